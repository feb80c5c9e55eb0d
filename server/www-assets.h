/*
 * www-assets.h -- the status page's files, built into the daemon.
 *
 * server/www/embed.sh turns server/www/ (the page, its script and
 * stylesheet, the vendored uPlot) into the build directory's
 * server/www-assets.c at build time (server/local.mk); http-page.c serves
 * them with their Content-Type and ETag.
 */
#ifndef TIMERD_WWW_ASSETS_H
#define TIMERD_WWW_ASSETS_H

#include <stddef.h>

struct www_asset {
	const char *path;		/* URL path, e.g. "/static/status.js" */
	const char *type;		/* Content-Type */
	const unsigned char *data;
	size_t len;
	const char *etag;		/* strong ETag, quoted: "\"0123456789abcdef\"" */
};

extern const struct www_asset www_assets[];
extern const size_t www_nassets;

#endif /* TIMERD_WWW_ASSETS_H */
