"""``python -m forescale``: the same entry point as the ``forescale`` console script."""

from forescale.cli import main

if __name__ == "__main__":
    main()
