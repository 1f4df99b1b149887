classes = win,unix

[tcp:request]
label = s:unix:Linux:3.11 and newer
sig   = *:64:0:*:mss*20,10:mss,sok,ts,nop,ws:df,id+:0
label = g:win:Windows:7 or 8
sys   = Windows
sig   = *:128:0:*:8192,8:mss,nop,ws,nop,nop,sok:df,id+:0

[tcp:response]
label = s:unix:Linux:3.x
sig   = *:64:0:*:mss*10,0:mss:df:0
