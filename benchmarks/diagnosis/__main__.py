from benchmarks.diagnosis.run import main

main()
