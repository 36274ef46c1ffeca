from endpoint_desk.cli import main

main()
