import sys

from kerasgp.machine import restart_with_tcmalloc

restart_with_tcmalloc(["-m", "kerasgp", *sys.argv[1:]])  # training here is allocator-bound (machine.py)

from kerasgp.cli import main  # noqa: E402

raise SystemExit(main())
