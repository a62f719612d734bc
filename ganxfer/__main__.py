"""`ganxfer` and `python -m ganxfer`: the command line, started without garbage collection passes
over the modules it imports.

Importing torch, Hydra, OmegaConf and rich creates several hundred thousand objects that live as
long as the process. Collection passes over them free none of them: while they are created, the
passes cost a command about a tenth of a second, and the interpreter's teardown at exit walks
them all again (benchmarks/fixed_costs.py; docs/training.md). So the imports run with the
collector off, and what they created is frozen out of every later pass (gc.freeze) before it is
turned back on, and stays frozen to the end. Code that calls cli.main itself (the tests) keeps
its own collector as it is."""

import gc


def main() -> int:
    gc.disable()
    try:
        from ganxfer import cli
    finally:
        gc.freeze()
        gc.enable()
    return cli.main()


if __name__ == "__main__":
    raise SystemExit(main())
