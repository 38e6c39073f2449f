/* ctlconsole.h — `trucectl console NAME`: the serial console over truced's WebSocket. */
#ifndef TRUCE_MANAGER_CTLCONSOLE_H
#define TRUCE_MANAGER_CTLCONSOLE_H

/* Attach the terminal (or stdin/stdout) to NAME's console at ADDR with TOKEN (NULL: none).
 * On a terminal Ctrl-] detaches; with stdin not a terminal, its end is followed by LINGER_MS of
 * output before detaching. Returns the exit status for trucectl (0, 1 refused, 3 connection). */
int ctl_console(const char *addr, const char *token, const char *name, int linger_ms);

#endif
