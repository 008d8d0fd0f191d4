"""The Textual side of autoresearch-tui, in layers that import downwards only.

| module | holds | imports from this package |
| :- | :- | :- |
| `state` | `SessionView` (what the screens show), `LoopSource` (what the App drives) | nothing |
| `activity` | `ActivityBuffer`: high-rate lines from the loop thread to the UI | nothing |
| `bridge` | engine events -> typed, past-tense Messages (`EventBridge`, the loop's sink) | `activity` |
| `commands` | the command palette's `Provider` | nothing |
| `app` | `AutoresearchApp`: owns the state, handles the messages, steers the controller | all of the above, `app.screens` |
| `launch` | the entry point (`run_tui`) | `app` |

Screens (`app.screens`) import `state` and never the App. This package imports nothing
eagerly: `import app.tui.state` does not load the App.
"""
