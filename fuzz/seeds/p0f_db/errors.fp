classes = win
[tcp:request]
label = s:nope:Linux:x
sig = 7:64:0:*:mss*20,10:mss:df:0
sig = *:999:0:*:*,*:bogus::0
[mtu]
label = Ethernet
sig = 1500
