from slsacheck.cli import main

raise SystemExit(main())
