/* folder.c: ImageFolder datasets: one sub-folder of PNGs per class.
 *
 * Layouts: DIR/train/<class>/ *.png plus DIR/test/<class>/ *.png, or just
 * DIR/<class>/ *.png (a train part only).  Classes are the train part's
 * folder names in byte order, as torchvision's ImageFolder sorts them, so
 * that the test part, which may lack some classes, gets the same labels.
 * Files are taken in name order; a PNG that does not decode is skipped
 * with one warning line and counted, since one bad file in a folder of
 * thousands should not stop a run. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "runtime/data/image.h"
#include "runtime/data/readers.h"

typedef struct name_list {
	char **v;
	int64_t n, cap;
} name_list;

static void name_list_free(name_list *l)
{
	for (int64_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof *l);
}

static int name_list_push(name_list *l, const char *s)
{
	if (l->n == l->cap) {
		int64_t cap = l->cap ? 2 * l->cap : 64;
		char **v = realloc(l->v, (size_t)cap * sizeof *v);
		if (!v)
			return SC_ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n] = strdup(s);
	if (!l->v[l->n])
		return SC_ENOMEM;
	l->n++;
	return SC_OK;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int has_png_ext(const char *name)
{
	size_t len = strlen(name);
	return len > 4 && strcasecmp(name + len - 4, ".png") == 0;
}

/* Sorted names in dir of the sub-folders (want_dirs) or of the regular
 * .png files; hidden entries are ignored. */
static int list_dir(const char *dir, int want_dirs, name_list *out, sc_error *err)
{
	DIR *dp = opendir(dir);
	if (!dp)
		return sc_fail(err, errno == ENOENT ? SC_EINVAL : SC_EIO, "%s: %s",
			       dir, strerror(errno));
	struct dirent *e;
	char path[4096];
	int rc = SC_OK;
	while ((e = readdir(dp)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (!want_dirs && !has_png_ext(e->d_name))
			continue;
		struct stat st;
		if (data_path_join(path, sizeof path, dir, e->d_name, NULL))
			continue;
		if (stat(path, &st) != 0)
			continue;
		if (want_dirs ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
			continue;
		if (name_list_push(out, e->d_name)) {
			rc = sc_fail(err, SC_ENOMEM, "%s: cannot list the folder", dir);
			break;
		}
	}
	closedir(dp);
	if (!rc && out->n > 1)
		qsort(out->v, (size_t)out->n, sizeof *out->v, cmp_name);
	return rc;
}

static int64_t class_index(const name_list *classes, const char *name)
{
	char *const *hit = bsearch(&name, classes->v, (size_t)classes->n,
				   sizeof *classes->v, cmp_name);
	return hit ? hit - classes->v : -1;
}

typedef struct folder_files {
	name_list paths;
	int32_t *labels;
	int64_t cap;
} folder_files;

/* Every PNG under part_root/<class>/, labelled by the train classes. */
static int collect_files(const char *part_root, const name_list *classes,
			 const char *train_root, folder_files *f, sc_error *err)
{
	name_list dirs = {0};
	char path[4096];
	int rc = list_dir(part_root, 1, &dirs, err);
	for (int64_t i = 0; !rc && i < dirs.n; i++) {
		int64_t label = class_index(classes, dirs.v[i]);
		if (label < 0) {
			rc = sc_fail(err, SC_EINVAL, "%s/%s: class '%s' has no folder in %s",
				     part_root, dirs.v[i], dirs.v[i], train_root);
			break;
		}
		name_list files = {0};
		rc = data_path_join(path, sizeof path, part_root, dirs.v[i], err);
		if (!rc)
			rc = list_dir(path, 0, &files, err);
		for (int64_t k = 0; !rc && k < files.n; k++) {
			char file[4096];
			rc = data_path_join(file, sizeof file, path, files.v[k], err);
			if (rc)
				break;
			if (f->paths.n == f->cap) {
				int64_t cap = f->cap ? 2 * f->cap : 256;
				int32_t *l = realloc(f->labels, (size_t)cap * sizeof *l);
				if (!l) {
					rc = SC_ENOMEM;
					break;
				}
				f->labels = l;
				f->cap = cap;
			}
			f->labels[f->paths.n] = (int32_t)label;
			if (name_list_push(&f->paths, file))
				rc = SC_ENOMEM;
		}
		if (rc == SC_ENOMEM)
			sc_fail(err, SC_ENOMEM, "%s: cannot list the files", path);
		name_list_free(&files);
	}
	name_list_free(&dirs);
	return rc;
}

/* Decodes every file into d, skipping (and counting) those that fail. */
static int decode_files(dataset *d, const folder_files *f, int64_t size,
			int64_t channels, const char *root, sc_error *err)
{
	int64_t kept = 0, image = channels * size * size;
	for (int64_t i = 0; i < f->paths.n; i++) {
		uint8_t *px = NULL;
		int64_t h = 0, w = 0;
		sc_error e = {0};
		int rc = data_png_read(f->paths.v[i], channels, &px, &h, &w, &e);
		if (rc == SC_ENOMEM)
			return sc_fail(err, rc, "%s", e.msg);
		if (rc) {
			fprintf(stderr, "warning: %s; skipped\n", e.msg);
			d->skipped++;
			continue;
		}
		rc = data_resize_u8(px, channels, h, w, d->pixels + kept * image,
				    size, size, err);
		free(px);
		if (rc)
			return rc;
		d->labels[kept++] = f->labels[i];
	}
	if (kept == 0)
		return sc_fail(err, SC_EINVAL, "%s: none of its %lld PNG files decoded",
			       root, (long long)f->paths.n);
	d->n = kept;
	return SC_OK;
}

int data_folder_open(dataset *d, const char *dir, dataset_part part,
		     int64_t size, int64_t channels, sc_error *err)
{
	char train_root[4096], test_root[4096];
	name_list classes = {0};
	folder_files files = {0};
	int rc;

	if (size == 0)
		size = 32;
	if (channels == 0)
		channels = 3;
	if (size < 1 || size > DATASET_MAX_SIDE)
		return sc_fail(err, SC_EINVAL, "--size: %lld is not in 1..%d",
			       (long long)size, DATASET_MAX_SIDE);
	if (channels != 1 && channels != 3)
		return sc_fail(err, SC_EINVAL, "%s: %lld channels requested, expected 1 or 3",
			       dir, (long long)channels);
	if (data_path_join(train_root, sizeof train_root, dir, "train", err) ||
	    data_path_join(test_root, sizeof test_root, dir, "test", err))
		return err ? err->code : SC_EINVAL;
	int split = is_dir(train_root);
	if (!split) {
		if (part == DATASET_TEST)
			return sc_fail(err, SC_EINVAL,
				       "%s: no train/ and test/ folders, so no test part "
				       "(lay it out as DIR/train/<class>/*.png and DIR/test/<class>/*.png)",
				       dir);
		if (strlen(dir) >= sizeof train_root)
			return sc_fail(err, SC_EINVAL, "%s: path too long", dir);
		memcpy(train_root, dir, strlen(dir) + 1);
	} else if (part == DATASET_TEST && !is_dir(test_root)) {
		return sc_fail(err, SC_EINVAL, "%s: no such folder (the test part of %s)",
			       test_root, dir);
	}

	rc = list_dir(train_root, 1, &classes, err);
	if (!rc && classes.n == 0)
		rc = sc_fail(err, SC_EINVAL, "%s: no class folders (expected %s/<class>/*.png)",
			     train_root, train_root);
	if (!rc)
		rc = collect_files(part == DATASET_TEST ? test_root : train_root,
				   &classes, train_root, &files, err);
	if (!rc && files.paths.n == 0)
		rc = sc_fail(err, SC_EINVAL, "%s: no .png files in its class folders",
			     part == DATASET_TEST ? test_root : train_root);
	if (!rc)
		rc = dataset_alloc_images(d, files.paths.n, channels, size, size, dir, err);
	if (!rc)
		rc = decode_files(d, &files, size, channels, dir, err);
	if (!rc)
		rc = dataset_set_classes(d, classes.n, (const char *const *)classes.v, err);
	name_list_free(&classes);
	name_list_free(&files.paths);
	free(files.labels);
	return rc;
}
