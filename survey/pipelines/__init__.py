"""The roof's orchestration: pipelines that tie several packages together (analyze, the demo,
scene datasets). Only the roof (these and ``survey/cli``) may import several packages at once."""
