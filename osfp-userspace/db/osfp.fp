; osfp built-in fingerprint database (p0f v3 format).
; Placeholder: the real contents are merged from another branch. Until then the
; built-in database has no signatures; use `osfp pcap --db /etc/p0f/p0f.fp`.

classes = win,unix,other

[mtu]

[tcp:request]

[tcp:response]
