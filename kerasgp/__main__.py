from kerasgp.cli import main

raise SystemExit(main())
