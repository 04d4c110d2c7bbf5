"""The OpenAI model list and the admin model lifecycle."""
