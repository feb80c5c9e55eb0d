# server/ -- the timerd daemon.
