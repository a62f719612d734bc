"""Training a GAN, for pretrain and finetune alike: the run plan (plan.py), building the run
(build.py), the loop (loop.py), what the run writes (writer.py), and `run.train(cfg, stage)`,
which does it all."""
