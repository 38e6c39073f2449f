#!/usr/bin/env python3
# web_browser.py URL TOKEN SHOTDIR KERNEL SNAPDIR — the web console in a real browser: headless Chromium
# driven over the DevTools protocol (python3-websocket). Signs in with the token (a wrong one
# first), creates a VM from a definition in the form, sees it running, types `echo hello` into its
# serial console and reads the guest's answer from the terminal, opens the screen of the VM "d"
# (a VNC display) and reads its pixels, pauses, resumes and snapshots "d" from its buttons, and
# saves a PNG of each page. One PASS/FAIL line a step.
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket  # python3-websocket (Debian)

URL, TOKEN, SHOTS, KERNEL, SNAPDIR = sys.argv[1:6]


def result(name, ok, detail):
    print("%s manager-web-%s%s" % ("PASS" if ok else "FAIL", name, (" (%s)" if ok else ": %s") % detail),
          flush=True)
    return ok


class Cdp:
    def __init__(self, ws_url):
        # Each answer may take long: a screenshot or an evaluate in a loaded L1 under TCG.
        self.ws = websocket.create_connection(ws_url, timeout=180, suppress_origin=True)
        self.n = 0

    def call(self, method, **params):
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            try:
                m = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                raise RuntimeError("%s: no answer from Chromium within 180 s" % method) from None
            if m.get("id") == self.n:
                if "error" in m:
                    raise RuntimeError("%s: %s" % (method, m["error"]))
                return m.get("result", {})

    def js(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise RuntimeError("JS %s: %s %s" % (expr[:60], d.get("text"), d.get("exception", {}).get("description")))
        return r["result"].get("value")

    def wait(self, expr, timeout=60):  # generous: Chromium is slow in the lab's L1, under TCG
        deadline = time.time() + timeout
        while time.time() < deadline:
            v = self.js(expr)
            if v:
                return v
            time.sleep(0.2)
        return None

    def shot(self, name):
        png = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        path = os.path.join(SHOTS, name)
        with open(path, "wb") as f:
            f.write(png)
        return path, len(png)

    def key(self, key, code, vk, text=None):
        for t in ("keyDown", "keyUp"):
            p = dict(type=t, key=key, code=code, windowsVirtualKeyCode=vk)
            if text and t == "keyDown":
                p["text"] = text
            self.call("Input.dispatchKeyEvent", **p)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


browser = shutil.which("chromium") or shutil.which("chromium-browser")
profile = tempfile.mkdtemp(prefix="truce-chromium-")
port = free_port()
proc = subprocess.Popen([browser, "--headless=new", "--no-sandbox", "--disable-gpu",
                         "--no-first-run", "--disable-extensions", "--user-data-dir=" + profile,
                         "--remote-debugging-port=%d" % port, "--window-size=1366,860",
                         "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    targets = None
    for _ in range(150):
        try:
            targets = json.load(urllib.request.urlopen("http://127.0.0.1:%d/json" % port, timeout=2))
            if any(t["type"] == "page" for t in targets):
                break
        except OSError:
            pass
        time.sleep(0.2)
    page = next(t for t in targets if t["type"] == "page")
    cdp = Cdp(page["webSocketDebuggerUrl"])
    cdp.call("Page.enable")
    cdp.call("Runtime.enable")
    cdp.call("Emulation.setDeviceMetricsOverride", width=1366, height=860, deviceScaleFactor=1,
             mobile=False)
    cdp.call("Page.navigate", url=URL)
    ok = cdp.wait("document.readyState === 'complete' && window.truceReady === true", 180)
    if not ok:
        raise RuntimeError("the web console did not load within 180 s")
    version = cdp.call("Browser.getVersion")["product"]

    # Sign in: a wrong token is refused with a message, the right one shows the VMs.
    cdp.js("document.getElementById('token').value = 'wrong-token-wrong-token';"
           "document.getElementById('login-form').requestSubmit()")
    refused = cdp.wait("document.getElementById('login-error').textContent")
    path, n = cdp.shot("web-console-login.png")
    cdp.js("document.getElementById('token').value = %s;"
           "document.getElementById('login-form').requestSubmit()" % json.dumps(TOKEN))
    signed = cdp.wait("!document.getElementById('app').hidden")
    result("sign-in", bool(ok and refused and signed),
           "%s; wrong token: '%s'; signed in" % (version, refused))

    # Create a VM from a definition in the form (started at once) and see it running.
    definition = {"boot-source": {"kernel_image_path": KERNEL, "boot_args": "shell"},
                  "machine-config": {"vcpu_count": 1, "mem_size_mib": 32}}
    cdp.js("document.getElementById('vm-name').value = 'web';"
           "document.getElementById('vm-def').value = %s;"
           "document.getElementById('create-form').requestSubmit()" % json.dumps(json.dumps(definition, indent=1)))
    running = cdp.wait("(() => { const r = [...document.querySelectorAll('#vms tbody tr')]"
                       ".find(t => t.querySelector('th').textContent === 'web');"
                       " return r && r.dataset.state === 'running' &&"
                       " !r.querySelector('button[aria-label=\"Console web\"]').disabled; })()")
    time.sleep(3)  # a few samples for the graphs
    figs = cdp.js("[...document.querySelectorAll('#vms tbody tr')].map(t => t.querySelector('th').textContent"
                  " + ': ' + t.dataset.state + ', cpu ' + t.cells[3].textContent + ', mem ' + t.cells[4].textContent).join('; ')")
    cdp.js("window.scrollTo(0, 0)")
    path, n = cdp.shot("web-console-vms.png")
    result("create-running", bool(running), "%s; %s %d bytes" % (figs, os.path.basename(path), n))

    # The serial console: type `echo hello`, Enter; the guest answers "hello" on its own line.
    cdp.js("document.querySelector('button[aria-label=\"Console web\"]').click()")
    attached = cdp.wait("window.truceConsole && window.truceConsole.ws.readyState === 1")
    cdp.wait("(() => { const b = truceConsole.term.buffer.active; for (let i = 0; i < b.length; i++)"
             " if (b.getLine(i).translateToString(true).startsWith('$')) return true; })()", 10)
    cdp.js("document.querySelector('#terminal .xterm-helper-textarea').focus()")
    for ch in "echo hello":  # typed key by key, as a person would
        if ch == " ":
            cdp.key(" ", "Space", 32, " ")
        else:
            cdp.key(ch, "Key" + ch.upper(), ord(ch.upper()), ch)
    cdp.key("Enter", "Enter", 13, "\r")
    lines_js = ("(() => { const b = truceConsole.term.buffer.active, l = [];"
                " for (let i = 0; i < b.length; i++) l.push(b.getLine(i).translateToString(true)); return l; })()")
    answered = cdp.wait("%s.includes('hello')" % lines_js)
    lines = [x for x in cdp.js(lines_js) if x.strip()]
    path, n = cdp.shot("web-console-console.png")
    result("console-echo-hello", bool(attached and answered and "$ echo hello" in lines),
           "terminal shows %s; %s %d bytes" % (lines[-3:], os.path.basename(path), n))

    # The screen of "d" through noVNC: its canvas shows the guest's four quadrants.
    cdp.js("document.querySelector('button[aria-label=\"Screen d\"]').click()")
    px_js = ("(() => { const c = document.querySelector('#screen canvas'); if (!c || c.width !== 320) return null;"
             " const x = c.getContext('2d'); const p = (a, b) => [...x.getImageData(a, b, 1, 1).data.slice(0, 3)]"
             ".map(v => v.toString(16).padStart(2, '0')).join('');"
             " const r = [p(80, 50), p(240, 50), p(80, 150), p(240, 150)]; return r[0] === 'ff0000' ? r : null; })()")
    px = cdp.wait(px_js)
    if px is None:  # say what the canvas showed
        px = cdp.js("(() => { const c = document.querySelector('#screen canvas'); return c ? c.width + 'x' + c.height"
                    " + ' ' + [...c.getContext('2d').getImageData(80, 50, 1, 1).data.slice(0, 3)].join(',') : 'no canvas'; })()")
    path, n = cdp.shot("web-console-screen.png")
    result("screen", px == ["ff0000", "00ff00", "0000ff", "ffffff"],
           "noVNC canvas 320x200, quadrants %s; %s %d bytes" % (px, os.path.basename(path), n))

    # Pause and resume d from its buttons; a snapshot of d through the dialog.
    row_state = ("(() => { const r = [...document.querySelectorAll('#vms tbody tr')]"
                 ".find(t => t.querySelector('th').textContent === 'd'); return r && r.dataset.state; })()")
    cdp.js("document.querySelector('button[aria-label=\"Pause d\"]').click()")
    paused = cdp.wait(row_state + " === 'paused'")
    cdp.js("document.querySelector('button[aria-label=\"Resume d\"]').click()")
    resumed = cdp.wait(row_state + " === 'running'")
    snapdir = os.path.join(SNAPDIR, "snap-d")
    cdp.js("document.querySelector('button[aria-label=\"Snapshot d\"]').click()")
    dialog = cdp.wait("document.getElementById('snap-dialog').open && document.activeElement.id === 'snap-dir'")
    cdp.js("document.getElementById('snap-dir').value = %s;"
           "document.getElementById('snap-form').requestSubmit()" % json.dumps(snapdir))
    said = cdp.wait("document.getElementById('status').textContent.includes('snapshot written')")
    result("pause-resume-snapshot", bool(paused and resumed and dialog and said and
                                         os.path.getsize(os.path.join(snapdir, "vmstate")) > 0),
           "paused, resumed; the dialog took the focus; status '%s'" % cdp.js("document.getElementById('status').textContent"))

    # Keyboard: every action is a button with a label naming its VM; the form fields have labels.
    a11y = cdp.js("(() => { const unl = [...document.querySelectorAll('input, textarea')].filter(e =>"
                  " !e.labels || !e.labels.length).map(e => e.id);"
                  " const bad = [...document.querySelectorAll('#vms button')].filter(b => !b.getAttribute('aria-label'));"
                  " return {unlabelled: unl, unnamed: bad.length, buttons: document.querySelectorAll('#vms button').length}; })()")
    result("labels", not a11y["unlabelled"] and a11y["unnamed"] == 0,
           "%d row buttons named, every field labelled" % a11y["buttons"])

    # Stop the VM from its button; the row says stopped.
    cdp.js("document.getElementById('console-close').click();"
           "document.querySelector('button[aria-label=\"Stop web\"]').click()")
    stopped = cdp.wait("(() => { const r = [...document.querySelectorAll('#vms tbody tr')]"
                       ".find(t => t.querySelector('th').textContent === 'web');"
                       " return r && ['stopped', 'crashed'].includes(r.dataset.state) && r.dataset.state; })()")
    result("stop-button", bool(stopped), "web %s" % stopped)
except Exception as e:  # a step that broke the script: say which
    result("browser", False, "%s: %s" % (type(e).__name__, e))
finally:
    proc.kill()
    proc.wait()
    shutil.rmtree(profile, ignore_errors=True)
