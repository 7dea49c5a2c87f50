from personatune.cli import main

raise SystemExit(main())
