"""Shared request shapes and assertions for the SDK end-to-end tests."""

from __future__ import annotations

CACHE_READ = 100
CACHING_UPSTREAMS = {"to-openai", "to-anthropic"}  # mocks report cached input tokens there

WEATHER_OPENAI = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}]

WEATHER_ANTHROPIC = [{
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}]

TOOL_RESULT = "18C and sunny"
