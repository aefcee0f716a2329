print("gbsm")
