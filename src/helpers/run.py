"""Command line of the runner: ``python -m helpers.run params/<profile>.yaml`` (see ``helpers.pipeline.runner``)."""

from helpers.pipeline.runner import main

if __name__ == "__main__":
    raise SystemExit(main())
