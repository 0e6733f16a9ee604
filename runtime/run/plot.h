/* plot.h: a small raster plotting library for supcon's pictures: embedding
 * scatter plots and training curves, written as PNG.
 *
 * A plot_canvas is an RGB image the caller owns (plot_canvas_init /
 * plot_canvas_free).  Drawing never fails and never allocates: shapes and
 * text outside the canvas are clipped.  Text comes from an embedded 5x7
 * bitmap font (printable ASCII; other bytes draw as '?') scaled by a whole
 * factor.  Colours are 0xRRGGBB.
 *
 * On top of the canvas, plot_axes maps data coordinates to a pixel
 * rectangle and draws a frame with "nice" ticks, tick labels, axis labels
 * and a title; plot_legend draws coloured markers with names.  The two
 * figures supcon writes, plot_scatter_png and plot_curves_png, are built
 * from these.
 *
 * plot_write_png writes the canvas with libpng through runtime/fileio.h,
 * so the file appears atomically; errors come back as one line naming the
 * path. */
#ifndef SUPCON_RUN_PLOT_H
#define SUPCON_RUN_PLOT_H

#include <stdint.h>

#include "runtime/status.h"

#define PLOT_MAX_SIDE 8192

typedef struct plot_canvas {
	int w, h;
	uint8_t *rgb;           /* w*h*3 bytes, row-major */
} plot_canvas;

/* Allocates a w x h canvas filled with bg.  Sides in [16, PLOT_MAX_SIDE]. */
int plot_canvas_init(plot_canvas *c, int w, int h, uint32_t bg, sc_error *err);
void plot_canvas_free(plot_canvas *c);

/* The colour at (x, y), 0 outside the canvas. */
uint32_t plot_get_pixel(const plot_canvas *c, int x, int y);

/* alpha in [0, 1]: 1 paints, below blends over what is there. */
void plot_blend(plot_canvas *c, int x, int y, uint32_t color, double alpha);
void plot_fill_rect(plot_canvas *c, int x0, int y0, int x1, int y1,
		    uint32_t color);
/* A filled disc with an antialiased edge. */
void plot_disc(plot_canvas *c, double cx, double cy, double r, uint32_t color,
	       double alpha);
/* A line of the given width (in pixels), antialiased at its sides. */
void plot_line(plot_canvas *c, double x0, double y0, double x1, double y1,
	       double width, uint32_t color);

/* Text with its top-left corner at (x, y); returns the width in pixels.
 * A glyph cell is 6*scale wide and 8*scale high. */
int plot_text(plot_canvas *c, int x, int y, const char *s, uint32_t color,
	      int scale);
int plot_text_width(const char *s, int scale);
#define PLOT_TEXT_HEIGHT(scale) (8 * (scale))
/* Text turned 90 degrees counter-clockwise (read bottom to top), its
 * bottom-left corner at (x, y): for y-axis labels. */
void plot_text_up(plot_canvas *c, int x, int y, const char *s, uint32_t color,
		  int scale);

/* The i-th colour of a categorical palette: the first ten are the
 * familiar "tab10" colours, further ones are spread around the hue circle. */
uint32_t plot_palette(int i);

/* Tick positions: a step of 1, 2 or 5 times a power of ten giving at most
 * max_ticks ticks in [lo, hi]; *first is the first multiple of the step
 * at or above lo.  Returns the number of ticks. */
int plot_ticks(double lo, double hi, int max_ticks, double *first,
	       double *step);

typedef struct plot_axes {
	int x0, y0, x1, y1;     /* the data area in pixels (y0 top) */
	double xmin, xmax, ymin, ymax;
} plot_axes;

double plot_px(const plot_axes *a, double x);
double plot_py(const plot_axes *a, double y);

/* Frame, grid ticks with labels, axis labels (either may be NULL) and a
 * title above the area (NULL: none).  Expands [min, max] ranges that are
 * empty so that a constant series still draws. */
void plot_axes_draw(plot_canvas *c, plot_axes *a, const char *title,
		    const char *xlabel, const char *ylabel);

typedef enum plot_marker { PLOT_MARKER_DISC, PLOT_MARKER_LINE } plot_marker;

/* A legend box with its top-left corner at (x, y): one row per name with
 * a marker of its colour.  Returns the height it used. */
int plot_legend(plot_canvas *c, int x, int y, const char *const *names,
		const uint32_t *colors, int n, plot_marker marker);
/* The width plot_legend needs for these names. */
int plot_legend_width(const char *const *names, int n);

int plot_write_png(const plot_canvas *c, const char *path, sc_error *err);

/* --- figures ---------------------------------------------------------------- */

/* A scatter plot of n 2-D points (xy[2*i], xy[2*i+1]) coloured by
 * label[i] in [0, classes), with a legend naming the classes (names may
 * be NULL: the class index), axes, a title and an optional subtitle.
 * Points are drawn in a fixed pseudo-random order so that no class is
 * always painted on top. */
typedef struct plot_scatter_spec {
	const double *xy;
	const int32_t *label;
	int64_t n;
	int64_t classes;
	const char *const *names;
	const char *title, *subtitle, *xlabel, *ylabel;
	int width, height;
	double point_radius;    /* 0: chosen from n */
} plot_scatter_spec;

int plot_scatter_png(const plot_scatter_spec *s, const char *path,
		     sc_error *err);

/* Training curves: a loss panel (left) and an accuracy panel (right),
 * each with up to PLOT_MAX_SERIES series of (x, y) values; NaN values are
 * skipped (a series with no finite value is left out of the legend). */
#define PLOT_MAX_SERIES 6

typedef struct plot_series {
	const char *name;
	const double *x, *y;
	int n;
} plot_series;

typedef struct plot_panel {
	const char *title, *xlabel, *ylabel;
	plot_series series[PLOT_MAX_SERIES];
	int n_series;
	int unit_range;         /* y axis fixed to [0, 1] (accuracies) */
	const char *empty_note; /* shown when no series has a value */
} plot_panel;

int plot_curves_png(const char *title, const plot_panel *left,
		    const plot_panel *right, int width, int height,
		    const char *path, sc_error *err);

#endif
