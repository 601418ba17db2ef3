from lab.cli._main import main

main()
