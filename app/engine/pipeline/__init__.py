"""One experiment, as a pipeline of stages that each return a verdict.

    propose -> snapshot -> guard -> review -> intact -> measure -> decide -> outside clock
            -> metric guards -> checks -> holdout -> keep

Where things go:

- `stages.py`    the gates, in order (`STAGES`). A new gate is a function
                 `(pipeline, trial) -> Verdict` there, placed in `STAGES` where it belongs.
- `propose.py`   the first stage: the agent (its context, hooks, live diff, errors and
                 back-off) or a cherry-pick.
- `trial.py`     `Verdict` (what a stage answers) and `Trial` (one experiment in flight;
                 `settle` is the one place its status is set).
- `experiment.py` `Pipeline.run`: runs the stages, turns vetoes, stops and tampering into
                 verdicts, and returns the experiment's record.

Measuring belongs to the bench (app/engine/bench.py), the champion's figures to
`ChampionState` (app/engine/champion.py), the session around the experiments (budgets,
pause, baseline, drift) to app/engine/loop.py. docs/architecture.md draws the whole.
"""

from app.engine.pipeline.experiment import Outcome, Pipeline
from app.engine.pipeline.stages import STAGES, Stage
from app.engine.pipeline.trial import PASS, Trial, Verdict

__all__ = ["Outcome", "PASS", "Pipeline", "STAGES", "Stage", "Trial", "Verdict"]
