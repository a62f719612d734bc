from ganxfer.cli import main

raise SystemExit(main())
