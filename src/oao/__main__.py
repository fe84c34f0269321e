from oao.cli import main

main()
