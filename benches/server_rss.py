#!/usr/bin/env python3
"""RSS of a `mailtrip server` process holding 10,000 stored 4 KiB messages.

Starts target/release/mailtrip server, submits 10,000 messages over 8 plain SMTP connections
with smtplib, and prints the server's VmRSS/VmHWM before and after. Run after
`cargo build --release`: `python3 benches/server_rss.py`.
"""
import json
import smtplib
import subprocess
import threading
import time

p = subprocess.Popen(
    ["target/release/mailtrip", "server", "--user", "bench@mailtrip.test:pw"],
    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
try:
    port = int(json.loads(p.stdout.readline())["smtp"].rsplit(":", 1)[1])

    def rss():
        with open(f"/proc/{p.pid}/status") as f:
            return {k: v.strip() for k, v in (l.split(":", 1) for l in f) if k in ("VmRSS", "VmHWM")}

    before = rss()
    line = "mailtrip benchmark line of text, seventy-odd characters long, padding.\r\n"

    def worker(k):
        s = smtplib.SMTP("127.0.0.1", port)
        for i in range(k, 10000, 8):
            body = f"From: bench@mailtrip.test\r\nTo: bench@mailtrip.test\r\nSubject: bench {i}\r\n\r\n"
            while len(body) < 4096 - len(line):
                body += line
            s.sendmail("bench@mailtrip.test", ["bench@mailtrip.test"], body)
        s.quit()

    t0 = time.time()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"mailtrip server RSS: {before['VmRSS']} idle; {rss()['VmRSS']} "
          f"(peak {rss()['VmHWM']}) with 10,000 stored 4 KiB messages "
          f"(submitted in {time.time() - t0:.1f} s)")
finally:
    p.terminate()
    p.wait()
