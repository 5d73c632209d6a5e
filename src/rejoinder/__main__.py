from rejoinder.cli import main

main()
