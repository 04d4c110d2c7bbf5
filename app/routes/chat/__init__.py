"""Text generation: OpenAI chat completions and the Responses API, over one request parser."""
