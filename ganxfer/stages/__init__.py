"""One module per stage; each exposes run(cfg). Stages orchestrate, the layers below do the work."""

from ganxfer.stages import evaluate, finetune, pretrain, report, sample

STAGES = {"pretrain": pretrain.run, "finetune": finetune.run, "evaluate": evaluate.run, "sample": sample.run,
          "report": report.run}
