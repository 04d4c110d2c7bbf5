"""Text-to-speech: the OpenAI speech route and the speech history records, over one request check."""
