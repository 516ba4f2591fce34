from benchmarks.diagnosis.runner import main

main()
