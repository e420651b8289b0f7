import sys

from cpaas_sdk.cli.main import main

sys.exit(main())
