/* plot.c: raster drawing, an embedded bitmap font, axes, legends, the
 * scatter and curve figures, and PNG output; see plot.h. */
#include "plot.h"

#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/fileio.h"

/* --- the font ------------------------------------------------------------- */

/* A 5x7 font for printable ASCII (32..126), drawn for supcon: seven rows
 * per glyph, bit 4 the leftmost column.  Lower-case descenders sit in the
 * bottom rows. */
static const uint8_t font5x7[95][7] = {
	{0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},	/*   */
	{0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04},	/* ! */
	{0x0a, 0x0a, 0x0a, 0x00, 0x00, 0x00, 0x00},	/* " */
	{0x0a, 0x0a, 0x1f, 0x0a, 0x1f, 0x0a, 0x0a},	/* # */
	{0x04, 0x0f, 0x14, 0x0e, 0x05, 0x1e, 0x04},	/* $ */
	{0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03},	/* % */
	{0x0c, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0d},	/* & */
	{0x04, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00},	/* quote */
	{0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02},	/* ( */
	{0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08},	/* ) */
	{0x00, 0x04, 0x15, 0x0e, 0x15, 0x04, 0x00},	/* star */
	{0x00, 0x04, 0x04, 0x1f, 0x04, 0x04, 0x00},	/* + */
	{0x00, 0x00, 0x00, 0x00, 0x0c, 0x04, 0x08},	/* , */
	{0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00},	/* - */
	{0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c},	/* . */
	{0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00},	/* slash */
	{0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e},	/* 0 */
	{0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e},	/* 1 */
	{0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f},	/* 2 */
	{0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e},	/* 3 */
	{0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02},	/* 4 */
	{0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e},	/* 5 */
	{0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e},	/* 6 */
	{0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08},	/* 7 */
	{0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e},	/* 8 */
	{0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c},	/* 9 */
	{0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00},	/* : */
	{0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x04, 0x08},	/* ; */
	{0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02},	/* < */
	{0x00, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x00},	/* = */
	{0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08},	/* > */
	{0x0e, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04},	/* ? */
	{0x0e, 0x11, 0x01, 0x0d, 0x15, 0x15, 0x0e},	/* @ */
	{0x0e, 0x11, 0x11, 0x11, 0x1f, 0x11, 0x11},	/* A */
	{0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e},	/* B */
	{0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e},	/* C */
	{0x1c, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1c},	/* D */
	{0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f},	/* E */
	{0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10},	/* F */
	{0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f},	/* G */
	{0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11},	/* H */
	{0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e},	/* I */
	{0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c},	/* J */
	{0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11},	/* K */
	{0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f},	/* L */
	{0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11},	/* M */
	{0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11},	/* N */
	{0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e},	/* O */
	{0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10},	/* P */
	{0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d},	/* Q */
	{0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11},	/* R */
	{0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e},	/* S */
	{0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04},	/* T */
	{0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e},	/* U */
	{0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04},	/* V */
	{0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a},	/* W */
	{0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11},	/* X */
	{0x11, 0x11, 0x11, 0x0a, 0x04, 0x04, 0x04},	/* Y */
	{0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f},	/* Z */
	{0x0e, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0e},	/* [ */
	{0x00, 0x10, 0x08, 0x04, 0x02, 0x01, 0x00},	/* backslash */
	{0x0e, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0e},	/* ] */
	{0x04, 0x0a, 0x11, 0x00, 0x00, 0x00, 0x00},	/* ^ */
	{0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1f},	/* _ */
	{0x08, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00},	/* ` */
	{0x00, 0x00, 0x0e, 0x01, 0x0f, 0x11, 0x0f},	/* a */
	{0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1e},	/* b */
	{0x00, 0x00, 0x0e, 0x10, 0x10, 0x11, 0x0e},	/* c */
	{0x01, 0x01, 0x0d, 0x13, 0x11, 0x11, 0x0f},	/* d */
	{0x00, 0x00, 0x0e, 0x11, 0x1f, 0x10, 0x0e},	/* e */
	{0x06, 0x09, 0x08, 0x1c, 0x08, 0x08, 0x08},	/* f */
	{0x00, 0x0f, 0x11, 0x11, 0x0f, 0x01, 0x0e},	/* g */
	{0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11},	/* h */
	{0x04, 0x00, 0x0c, 0x04, 0x04, 0x04, 0x0e},	/* i */
	{0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0c},	/* j */
	{0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12},	/* k */
	{0x0c, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e},	/* l */
	{0x00, 0x00, 0x1a, 0x15, 0x15, 0x11, 0x11},	/* m */
	{0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11},	/* n */
	{0x00, 0x00, 0x0e, 0x11, 0x11, 0x11, 0x0e},	/* o */
	{0x00, 0x00, 0x1e, 0x11, 0x1e, 0x10, 0x10},	/* p */
	{0x00, 0x00, 0x0d, 0x13, 0x0f, 0x01, 0x01},	/* q */
	{0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10},	/* r */
	{0x00, 0x00, 0x0e, 0x10, 0x0e, 0x01, 0x1e},	/* s */
	{0x08, 0x08, 0x1c, 0x08, 0x08, 0x09, 0x06},	/* t */
	{0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0d},	/* u */
	{0x00, 0x00, 0x11, 0x11, 0x11, 0x0a, 0x04},	/* v */
	{0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0a},	/* w */
	{0x00, 0x00, 0x11, 0x0a, 0x04, 0x0a, 0x11},	/* x */
	{0x00, 0x00, 0x11, 0x11, 0x0f, 0x01, 0x0e},	/* y */
	{0x00, 0x00, 0x1f, 0x02, 0x04, 0x08, 0x1f},	/* z */
	{0x02, 0x04, 0x04, 0x08, 0x04, 0x04, 0x02},	/* { */
	{0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04},	/* | */
	{0x08, 0x04, 0x04, 0x02, 0x04, 0x04, 0x08},	/* } */
	{0x00, 0x00, 0x08, 0x15, 0x02, 0x00, 0x00},	/* ~ */
};

#define GLYPH_W 6               /* 5 columns and a space */
#define GLYPH_H 8               /* 7 rows and a space */

static const uint8_t *glyph(unsigned char ch)
{
	if (ch < 32 || ch > 126)
		ch = '?';
	return font5x7[ch - 32];
}

/* --- the canvas ------------------------------------------------------------ */

int plot_canvas_init(plot_canvas *c, int w, int h, uint32_t bg, sc_error *err)
{
	c->w = c->h = 0;
	c->rgb = NULL;
	if (w < 16 || h < 16 || w > PLOT_MAX_SIDE || h > PLOT_MAX_SIDE)
		return sc_fail(err, SC_EINVAL, "image size %dx%d: each side must be "
			       "in [16, %d]", w, h, PLOT_MAX_SIDE);
	c->rgb = malloc((size_t)w * (size_t)h * 3);
	if (!c->rgb)
		return sc_fail(err, SC_ENOMEM, "out of memory for a %dx%d image", w, h);
	c->w = w;
	c->h = h;
	plot_fill_rect(c, 0, 0, w, h, bg);
	return SC_OK;
}

void plot_canvas_free(plot_canvas *c)
{
	free(c->rgb);
	c->rgb = NULL;
	c->w = c->h = 0;
}

uint32_t plot_get_pixel(const plot_canvas *c, int x, int y)
{
	if (x < 0 || y < 0 || x >= c->w || y >= c->h)
		return 0;
	const uint8_t *p = c->rgb + ((size_t)y * (size_t)c->w + (size_t)x) * 3;
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

void plot_blend(plot_canvas *c, int x, int y, uint32_t color, double alpha)
{
	if (x < 0 || y < 0 || x >= c->w || y >= c->h || !(alpha > 0))
		return;
	if (alpha > 1)
		alpha = 1;
	uint8_t *p = c->rgb + ((size_t)y * (size_t)c->w + (size_t)x) * 3;
	for (int k = 0; k < 3; k++) {
		double v = (double)(color >> (16 - 8 * k) & 0xff);
		p[k] = (uint8_t)lround(p[k] + alpha * (v - p[k]));
	}
}

void plot_fill_rect(plot_canvas *c, int x0, int y0, int x1, int y1,
		    uint32_t color)
{
	x0 = x0 < 0 ? 0 : x0;
	y0 = y0 < 0 ? 0 : y0;
	x1 = x1 > c->w ? c->w : x1;
	y1 = y1 > c->h ? c->h : y1;
	for (int y = y0; y < y1; y++)
		for (int x = x0; x < x1; x++) {
			uint8_t *p = c->rgb + ((size_t)y * (size_t)c->w + (size_t)x) * 3;
			p[0] = (uint8_t)(color >> 16);
			p[1] = (uint8_t)(color >> 8);
			p[2] = (uint8_t)color;
		}
}

static double clamp01(double v)
{
	return v < 0 ? 0 : v > 1 ? 1 : v;
}

void plot_disc(plot_canvas *c, double cx, double cy, double r, uint32_t color,
	       double alpha)
{
	int x0 = (int)floor(cx - r - 1), x1 = (int)ceil(cx + r + 1);
	int y0 = (int)floor(cy - r - 1), y1 = (int)ceil(cy + r + 1);
	for (int y = y0; y <= y1; y++)
		for (int x = x0; x <= x1; x++) {
			/* pixel (x, y) covers [x, x+1): its centre is x + 0.5 */
			double d = hypot(x + 0.5 - cx, y + 0.5 - cy);
			plot_blend(c, x, y, color, alpha * clamp01(r + 0.5 - d));
		}
}

void plot_line(plot_canvas *c, double x0, double y0, double x1, double y1,
	       double width, uint32_t color)
{
	double half = width / 2, dx = x1 - x0, dy = y1 - y0;
	double len2 = dx * dx + dy * dy;
	int bx0 = (int)floor(fmin(x0, x1) - half - 1), bx1 = (int)ceil(fmax(x0, x1) + half + 1);
	int by0 = (int)floor(fmin(y0, y1) - half - 1), by1 = (int)ceil(fmax(y0, y1) + half + 1);
	bx0 = bx0 < 0 ? 0 : bx0;
	by0 = by0 < 0 ? 0 : by0;
	bx1 = bx1 >= c->w ? c->w - 1 : bx1;
	by1 = by1 >= c->h ? c->h - 1 : by1;
	for (int y = by0; y <= by1; y++)
		for (int x = bx0; x <= bx1; x++) {
			double px = x + 0.5 - x0, py = y + 0.5 - y0;
			double t = len2 > 0 ? (px * dx + py * dy) / len2 : 0;
			t = clamp01(t);
			double d = hypot(px - t * dx, py - t * dy);
			double cov = clamp01(half + 0.5 - d);
			if (cov > 0)
				plot_blend(c, x, y, color, cov);
		}
}

int plot_text_width(const char *s, int scale)
{
	return (int)strlen(s) * GLYPH_W * scale;
}

int plot_text(plot_canvas *c, int x, int y, const char *s, uint32_t color,
	      int scale)
{
	int x_start = x;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		const uint8_t *g = glyph(*p);
		for (int r = 0; r < 7; r++)
			for (int k = 0; k < 5; k++)
				if (g[r] >> (4 - k) & 1)
					plot_fill_rect(c, x + k * scale, y + r * scale,
						       x + (k + 1) * scale,
						       y + (r + 1) * scale, color);
		x += GLYPH_W * scale;
	}
	return x - x_start;
}

void plot_text_up(plot_canvas *c, int x, int y, const char *s, uint32_t color,
		  int scale)
{
	/* glyph column k, row r lands at (x + r, y - k): a quarter turn left */
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		const uint8_t *g = glyph(*p);
		for (int r = 0; r < 7; r++)
			for (int k = 0; k < 5; k++)
				if (g[r] >> (4 - k) & 1)
					plot_fill_rect(c, x + r * scale,
						       y - (k + 1) * scale,
						       x + (r + 1) * scale,
						       y - k * scale, color);
		y -= GLYPH_W * scale;
	}
}

uint32_t plot_palette(int i)
{
	static const uint32_t tab10[10] = {
		0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd,
		0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf,
	};
	if (i >= 0 && i < 10)
		return tab10[i];
	/* golden-ratio steps around the hue circle, s 0.65, v 0.85 */
	double h = fmod(0.13 + 0.618033988749895 * (double)i, 1.0) * 6;
	double s = 0.65, v = 0.85, f = h - floor(h);
	double p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
	double rgb[6][3] = {{v, t, p}, {q, v, p}, {p, v, t},
			    {p, q, v}, {t, p, v}, {v, p, q}};
	const double *o = rgb[(int)floor(h) % 6];
	return (uint32_t)lround(o[0] * 255) << 16 |
	       (uint32_t)lround(o[1] * 255) << 8 | (uint32_t)lround(o[2] * 255);
}

/* --- axes ----------------------------------------------------------------- */

int plot_ticks(double lo, double hi, int max_ticks, double *first,
	       double *step)
{
	if (!(hi > lo) || max_ticks < 2) {
		*first = lo;
		*step = 1;
		return 1;
	}
	double raw = (hi - lo) / (max_ticks - 1);
	double mag = pow(10, floor(log10(raw)));
	static const double mult[4] = {1, 2, 5, 10};
	double s = mag * 10;
	for (int i = 0; i < 4; i++)
		if (mag * mult[i] >= raw) {
			s = mag * mult[i];
			break;
		}
	/* a step that still gives too many ticks after rounding: next one */
	double f = ceil(lo / s - 1e-9) * s;
	int n = (int)floor((hi - f) / s + 1e-9) + 1;
	if (n > max_ticks) {
		s *= 2;
		f = ceil(lo / s - 1e-9) * s;
		n = (int)floor((hi - f) / s + 1e-9) + 1;
	}
	*first = f;
	*step = s;
	return n;
}

double plot_px(const plot_axes *a, double x)
{
	return a->x0 + (x - a->xmin) / (a->xmax - a->xmin) * (a->x1 - a->x0);
}

double plot_py(const plot_axes *a, double y)
{
	return a->y1 - (y - a->ymin) / (a->ymax - a->ymin) * (a->y1 - a->y0);
}

static void tick_label(char *buf, size_t len, double v, double step)
{
	if (fabs(v) < step * 1e-6)
		v = 0;
	int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
	if (fabs(v) >= 1e5 || (v != 0 && fabs(v) < 1e-4) || dec > 6)
		snprintf(buf, len, "%.3g", v);
	else
		snprintf(buf, len, "%.*f", dec, v);
}

static void widen(double *lo, double *hi)
{
	if (!isfinite(*lo) || !isfinite(*hi)) {
		*lo = 0;
		*hi = 1;
	} else if (!(*hi > *lo)) {
		double d = fabs(*lo) > 0 ? fabs(*lo) * 0.1 : 0.5;
		*lo -= d;
		*hi += d;
	}
}

#define INK 0x202020
#define GRID 0xe6e6e6
#define MUTED 0x606060

void plot_axes_draw(plot_canvas *c, plot_axes *a, const char *title,
		    const char *xlabel, const char *ylabel)
{
	widen(&a->xmin, &a->xmax);
	widen(&a->ymin, &a->ymax);
	double f, s;
	char buf[48];
	int n = plot_ticks(a->xmin, a->xmax, 8, &f, &s);
	for (int i = 0; i < n; i++) {
		double v = f + i * s;
		int px = (int)lround(plot_px(a, v));
		plot_fill_rect(c, px, a->y0, px + 1, a->y1, GRID);
		plot_fill_rect(c, px, a->y1, px + 1, a->y1 + 5, INK);
		tick_label(buf, sizeof buf, v, s);
		plot_text(c, px - plot_text_width(buf, 1) / 2, a->y1 + 8, buf, INK, 1);
	}
	n = plot_ticks(a->ymin, a->ymax, 7, &f, &s);
	int widest = 0;
	for (int i = 0; i < n; i++) {
		double v = f + i * s;
		int py = (int)lround(plot_py(a, v));
		plot_fill_rect(c, a->x0, py, a->x1, py + 1, GRID);
		plot_fill_rect(c, a->x0 - 5, py, a->x0, py + 1, INK);
		tick_label(buf, sizeof buf, v, s);
		int w = plot_text_width(buf, 1);
		widest = w > widest ? w : widest;
		plot_text(c, a->x0 - 8 - w, py - 3, buf, INK, 1);
	}
	/* the frame over the grid */
	plot_fill_rect(c, a->x0, a->y0, a->x1 + 1, a->y0 + 1, INK);
	plot_fill_rect(c, a->x0, a->y1, a->x1 + 1, a->y1 + 1, INK);
	plot_fill_rect(c, a->x0, a->y0, a->x0 + 1, a->y1 + 1, INK);
	plot_fill_rect(c, a->x1, a->y0, a->x1 + 1, a->y1 + 1, INK);
	if (xlabel)
		plot_text(c, (a->x0 + a->x1 - plot_text_width(xlabel, 1)) / 2,
			  a->y1 + 24, xlabel, INK, 1);
	if (ylabel)
		plot_text_up(c, a->x0 - 8 - widest - 16,
			     (a->y0 + a->y1 + plot_text_width(ylabel, 1)) / 2,
			     ylabel, INK, 1);
	if (title) {
		/* large when it fits over the area */
		int scale = plot_text_width(title, 2) <= a->x1 - a->x0 ? 2 : 1;
		plot_text(c, (a->x0 + a->x1 - plot_text_width(title, scale)) / 2,
			  a->y0 - 10 - 8 * scale, title, INK, scale);
	}
}

int plot_legend_width(const char *const *names, int n)
{
	int w = 0;
	for (int i = 0; i < n; i++) {
		int t = plot_text_width(names[i], 1);
		w = t > w ? t : w;
	}
	return w + 40;
}

int plot_legend(plot_canvas *c, int x, int y, const char *const *names,
		const uint32_t *colors, int n, plot_marker marker)
{
	int row = 16, w = plot_legend_width(names, n), h = n * row + 10;
	plot_fill_rect(c, x, y, x + w, y + h, 0xffffff);
	plot_fill_rect(c, x, y, x + w, y + 1, 0xc0c0c0);
	plot_fill_rect(c, x, y + h - 1, x + w, y + h, 0xc0c0c0);
	plot_fill_rect(c, x, y, x + 1, y + h, 0xc0c0c0);
	plot_fill_rect(c, x + w - 1, y, x + w, y + h, 0xc0c0c0);
	for (int i = 0; i < n; i++) {
		double cy = y + 5 + i * row + row / 2.0;
		if (marker == PLOT_MARKER_DISC)
			plot_disc(c, x + 14, cy, 4.5, colors[i], 1);
		else
			plot_line(c, x + 6, cy, x + 24, cy, 2.5, colors[i]);
		plot_text(c, x + 30, (int)cy - 3, names[i], INK, 1);
	}
	return h;
}

/* --- PNG ------------------------------------------------------------------- */

typedef struct png_err_ctx {
	char msg[200];
} png_err_ctx;

static void png_err_fn(png_structp png, png_const_charp msg)
{
	png_err_ctx *e = png_get_error_ptr(png);
	snprintf(e->msg, sizeof e->msg, "%s", msg ? msg : "libpng error");
	png_longjmp(png, 1);
}

static void png_warn_fn(png_structp png, png_const_charp msg)
{
	(void)png;
	(void)msg;
}

static void png_rows(png_structp png, const plot_canvas *c)
{
	for (int y = 0; y < c->h; y++)
		png_write_row(png, c->rgb + (size_t)y * (size_t)c->w * 3);
}

/* Everything between setjmp and the end uses only values fixed before
 * it, so nothing is clobbered by libpng's longjmp. */
static int png_encode(FILE *f, const plot_canvas *c, png_err_ctx *e)
{
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, e,
						  png_err_fn, png_warn_fn);
	if (!png) {
		snprintf(e->msg, sizeof e->msg, "libpng: out of memory");
		return -1;
	}
	png_infop info = png_create_info_struct(png);
	if (!info) {
		png_destroy_write_struct(&png, NULL);
		snprintf(e->msg, sizeof e->msg, "libpng: out of memory");
		return -1;
	}
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		return -1;
	}
	png_init_io(png, f);
	png_set_IHDR(png, info, (png_uint_32)c->w, (png_uint_32)c->h, 8,
		     PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	png_rows(png, c);
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	return 0;
}

int plot_write_png(const plot_canvas *c, const char *path, sc_error *err)
{
	sc_atomic_file a;
	int rc = sc_atomic_open(&a, path, err);
	if (rc)
		return rc;
	png_err_ctx e = {{0}};
	if (png_encode(a.f, c, &e)) {
		sc_atomic_abort(&a);
		return sc_fail(err, SC_EIO, "%s: writing the PNG failed: %s", path,
			       e.msg);
	}
	return sc_atomic_commit(&a, err);
}

/* --- figures ---------------------------------------------------------------- */

static void range_of(const double *v, int64_t n, int64_t stride, double *lo,
		     double *hi)
{
	*lo = INFINITY;
	*hi = -INFINITY;
	for (int64_t i = 0; i < n; i++) {
		double x = v[i * stride];
		if (!isfinite(x))
			continue;
		*lo = x < *lo ? x : *lo;
		*hi = x > *hi ? x : *hi;
	}
}

#define MAX_LEGEND 64

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

int plot_scatter_png(const plot_scatter_spec *s, const char *path,
		     sc_error *err)
{
	if (s->classes < 1 || s->n < 0)
		return sc_fail(err, SC_EINVAL, "%s: nothing to plot", path);
	plot_canvas c;
	int rc = plot_canvas_init(&c, s->width, s->height, 0xffffff, err);
	if (rc)
		return rc;
	int nl = s->classes < MAX_LEGEND ? (int)s->classes : MAX_LEGEND;
	char idx_names[MAX_LEGEND][24];
	const char *names[MAX_LEGEND];
	uint32_t colors[MAX_LEGEND];
	for (int i = 0; i < nl; i++) {
		if (s->names && s->names[i]) {
			names[i] = s->names[i];
		} else {
			snprintf(idx_names[i], sizeof idx_names[i], "class %d", i);
			names[i] = idx_names[i];
		}
		colors[i] = plot_palette(i);
	}
	int lw = plot_legend_width(names, nl);
	plot_axes ax = {
		.x0 = 80, .y0 = s->subtitle ? 80 : 64,
		.x1 = s->width - lw - 36, .y1 = s->height - 56,
	};
	if (ax.x1 - ax.x0 < 100 || ax.y1 - ax.y0 < 100) {
		plot_canvas_free(&c);
		return sc_fail(err, SC_EINVAL, "%s: %dx%d is too small for the plot "
			       "and its legend", path, s->width, s->height);
	}
	range_of(s->xy, s->n, 2, &ax.xmin, &ax.xmax);
	range_of(s->xy + 1, s->n, 2, &ax.ymin, &ax.ymax);
	widen(&ax.xmin, &ax.xmax);
	widen(&ax.ymin, &ax.ymax);
	double px = 0.04 * (ax.xmax - ax.xmin), py = 0.04 * (ax.ymax - ax.ymin);
	ax.xmin -= px;
	ax.xmax += px;
	ax.ymin -= py;
	ax.ymax += py;
	plot_axes_draw(&c, &ax, NULL, s->xlabel, s->ylabel);
	if (s->title)
		plot_text(&c, (ax.x0 + ax.x1 - plot_text_width(s->title, 2)) / 2,
			  20, s->title, INK, 2);
	if (s->subtitle)
		plot_text(&c, (ax.x0 + ax.x1 - plot_text_width(s->subtitle, 1)) / 2,
			  46, s->subtitle, MUTED, 1);
	double r = s->point_radius > 0 ? s->point_radius :
		   s->n <= 500 ? 3.5 : s->n <= 2000 ? 2.6 : s->n <= 10000 ? 1.8 : 1.2;
	/* a fixed permutation (multiplicative hashing of the index) so that
	 * classes interleave instead of the last one covering the others */
	uint64_t n = (uint64_t)s->n, step = 0x9E3779B97F4A7C15ull % (n ? n : 1);
	while (n > 1 && (step == 0 || gcd_u64(step, n) != 1))
		step++;
	for (uint64_t k = 0, i = 0; k < n; k++, i = (i + step) % n) {
		double x = s->xy[2 * i], y = s->xy[2 * i + 1];
		int32_t l = s->label[i];
		if (!isfinite(x) || !isfinite(y))
			continue;
		uint32_t col = l >= 0 ? plot_palette(l) : 0x000000;
		plot_disc(&c, plot_px(&ax, x), plot_py(&ax, y), r, col, 0.85);
	}
	plot_legend(&c, ax.x1 + 18, ax.y0, names, colors, nl, PLOT_MARKER_DISC);
	if (s->classes > nl) {
		char more[48];
		snprintf(more, sizeof more, "(+%lld more)",
			 (long long)(s->classes - nl));
		plot_text(&c, ax.x1 + 18, ax.y0 + nl * 16 + 16, more, MUTED, 1);
	}
	rc = plot_write_png(&c, path, err);
	plot_canvas_free(&c);
	return rc;
}

static void panel_draw(plot_canvas *c, const plot_panel *p, int x0, int y0,
		       int x1, int y1)
{
	plot_axes ax = {.x0 = x0, .y0 = y0, .x1 = x1, .y1 = y1,
			.xmin = INFINITY, .xmax = -INFINITY,
			.ymin = INFINITY, .ymax = -INFINITY};
	const char *names[PLOT_MAX_SERIES];
	uint32_t colors[PLOT_MAX_SERIES];
	int shown = 0;
	for (int i = 0; i < p->n_series; i++) {
		const plot_series *s = &p->series[i];
		int any = 0;
		for (int k = 0; k < s->n; k++) {
			if (!isfinite(s->x[k]) || !isfinite(s->y[k]))
				continue;
			any = 1;
			ax.xmin = fmin(ax.xmin, s->x[k]);
			ax.xmax = fmax(ax.xmax, s->x[k]);
			ax.ymin = fmin(ax.ymin, s->y[k]);
			ax.ymax = fmax(ax.ymax, s->y[k]);
		}
		if (any) {
			names[shown] = s->name;
			colors[shown++] = plot_palette(i);
		}
	}
	if (p->unit_range) {
		ax.ymin = 0;
		ax.ymax = 1;
	} else if (isfinite(ax.ymin)) {
		double pad = 0.06 * (ax.ymax - ax.ymin);
		ax.ymin = ax.ymin - pad < 0 && ax.ymin >= 0 ? 0 : ax.ymin - pad;
		ax.ymax += pad;
	}
	if (isfinite(ax.xmin) && ax.xmax == ax.xmin) {
		ax.xmin -= 0.5;
		ax.xmax += 0.5;
	}
	plot_axes_draw(c, &ax, p->title, p->xlabel, p->ylabel);
	if (!shown) {
		const char *note = p->empty_note ? p->empty_note : "no values";
		plot_text(c, (x0 + x1 - plot_text_width(note, 1)) / 2, (y0 + y1) / 2,
			  note, MUTED, 1);
		return;
	}
	for (int i = 0; i < p->n_series; i++) {
		const plot_series *s = &p->series[i];
		double lx = NAN, ly = NAN;
		for (int k = 0; k < s->n; k++) {
			if (!isfinite(s->x[k]) || !isfinite(s->y[k]))
				continue;
			double X = plot_px(&ax, s->x[k]), Y = plot_py(&ax, s->y[k]);
			if (isfinite(lx))
				plot_line(c, lx, ly, X, Y, 2.2, plot_palette(i));
			plot_disc(c, X, Y, 3.2, plot_palette(i), 1);
			lx = X;
			ly = Y;
		}
	}
	/* accuracies rise and losses fall: the legend goes where the curves
	 * usually are not */
	int lw = plot_legend_width(names, shown), lh = shown * 16 + 10;
	plot_legend(c, x1 - lw - 6, p->unit_range ? y1 - lh - 6 : y0 + 6, names,
		    colors, shown, PLOT_MARKER_LINE);
}

int plot_curves_png(const char *title, const plot_panel *left,
		    const plot_panel *right, int width, int height,
		    const char *path, sc_error *err)
{
	plot_canvas c;
	int rc = plot_canvas_init(&c, width, height, 0xffffff, err);
	if (rc)
		return rc;
	int top = title ? 84 : 50, bottom = height - 56, mid = width / 2;
	if (mid - 150 < 100 || bottom - top < 80) {
		plot_canvas_free(&c);
		return sc_fail(err, SC_EINVAL, "%s: %dx%d is too small for two panels",
			       path, width, height);
	}
	if (title)
		plot_text(&c, (width - plot_text_width(title, 2)) / 2, 12, title, INK, 2);
	panel_draw(&c, left, 80, top, mid - 30, bottom);
	panel_draw(&c, right, mid + 80, top, width - 30, bottom);
	rc = plot_write_png(&c, path, err);
	plot_canvas_free(&c);
	return rc;
}
