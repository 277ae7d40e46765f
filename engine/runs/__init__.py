"""One run as views need it, without Streamlit.

- `status`: the run statuses and the one rule mapping how a run ended to one.
- `spec`: what a run was asked to do (`RunSpec`, no key in it) and the group it is one of
  (`RunGroup`: a comparison's lane).
- `hooks`: start and end hooks every run calls (`RunStart`, `RunEnd`), e.g. the history.
- `state`: `RunState`, a run folded snapshot by snapshot (mirror, metrics, chunk log, timeline);
  pure, the time passed in.
- `grounder`: the text's index (built beside the request, shared by `SharedIndexes`) and the
  grounding of done values.
- `runner`: the Runner (one run in a background thread, coalesced view updates).
- `group`: `RunnerGroup`, several runners driven by one polling loop.
- `start`: the run path the app and the CLI share (`start_run(spec, provider)`,
  `stream_extraction`).
- `outcome`: how a run ended, in plain words (`explain`).
- `display`: values, states, seconds and JSON as views show them.
"""
