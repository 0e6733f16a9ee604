/* report.c: the pictures of a run directory: training curves
 * (DIR/curves.png), written by `supcon train`, `supcon linear`, the sweep
 * and the demo at the end of every stage. */
#include "run.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "plot.h"

#define CURVES_W 1100
#define CURVES_H 460

/* One series of a history: x the epoch, y the field at `off`. */
static void series_of(const run_history *h, size_t off, double *x, double *y)
{
	for (int i = 0; i < h->n; i++) {
		x[i] = h->e[i].epoch;
		y[i] = *(const double *)((const char *)&h->e[i] + off);
	}
}

static void accuracy_series(plot_panel *p, const run_history *h, double x[3][64],
			    double y[3][64])
{
	static const char *const names[3] = {"train", "validation", "test"};
	static const size_t offs[3] = {
		offsetof(run_epoch, train_acc), offsetof(run_epoch, val_acc),
		offsetof(run_epoch, test_acc),
	};
	for (int k = 0; k < 3; k++) {
		series_of(h, offs[k], x[k], y[k]);
		p->series[p->n_series++] = (plot_series){names[k], x[k], y[k], h->n};
	}
}

int run_write_curves(const char *dir, const run_config *c,
		     const run_history *h, const run_history *lh,
		     sc_error *err)
{
	char path[4096], title[512], loss_name[64];
	int rc = run_path(path, sizeof path, dir, "curves.png", err);
	if (rc)
		return rc;
	int ce = !strcmp(c->method, "ce");
	snprintf(loss_name, sizeof loss_name, "%s loss",
		 ce ? "cross-entropy" : !strcmp(c->method, "simclr") ? "SimCLR" :
		 "SupCon");
	snprintf(title, sizeof title, "%.200s: %s, %s, lr %g, %s, aug %s", dir,
		 ce ? "cross-entropy" : c->method, c->optimizer, c->lr, c->schedule,
		 c->aug);
	double lx[64], ly[64], ax[3][64], ay[3][64];
	plot_panel left = {.title = "loss", .xlabel = ce ? "epoch" : "stage-1 epoch",
			   .ylabel = loss_name, .n_series = 1};
	series_of(h, offsetof(run_epoch, loss), lx, ly);
	left.series[0] = (plot_series){loss_name, lx, ly, h->n};
	plot_panel right = {.title = "accuracy", .ylabel = "accuracy",
			    .unit_range = 1};
	if (lh) {
		right.title = "linear classifier accuracy";
		right.xlabel = "stage-2 epoch";
		accuracy_series(&right, lh, ax, ay);
	} else if (ce) {
		right.xlabel = "epoch";
		accuracy_series(&right, h, ax, ay);
	} else {
		right.xlabel = "stage-2 epoch";
		right.empty_note = "no classifier yet: run supcon linear";
	}
	return plot_curves_png(title, &left, &right, CURVES_W, CURVES_H, path, err);
}
