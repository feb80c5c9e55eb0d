/*
 * version.h -- what `timerd --version` and `timerctl --version` print: the
 * package version, the protocol version (proto/frame.h FRAME_VERSION) and
 * the build's features, from config.h.
 */
#ifndef TIMERD_VERSION_H
#define TIMERD_VERSION_H

#include "config.h"

#ifdef HAVE_SYSTEMD
#define VERSION_SYSTEMD "yes"
#else
#define VERSION_SYSTEMD "no"
#endif
#ifdef HAVE_TLS
#define VERSION_TLS "yes"
#else
#define VERSION_TLS "no"
#endif

/*
 * The features, one "name: value" list: probes (BPF, always built: libbpf
 * is required), systemd (sd_notify, watchdog, socket activation), tls (HAVE_TLS,
 * once it exists), store (the durable timer store's backend).
 */
#define VERSION_FEATURES "probes: yes, systemd: " VERSION_SYSTEMD ", tls: " VERSION_TLS ", store: sqlite"

#endif /* TIMERD_VERSION_H */
