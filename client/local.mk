# client/ -- libtimerd and timerctl.
