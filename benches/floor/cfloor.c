/*
 * _cfloor: the "C floor" for the rselectors benchmarks.
 *
 * A deliberately minimal CPython extension with just enough of the `selectors` API
 * (EpollSelector only, Linux only) for the benchmark engine to drive it: epoll_ctl /
 * epoll_wait plus building the Python objects the API has to return (real
 * `selectors.SelectorKey` instances, a list of `(key, events)` tuples). Keys live in a C
 * array indexed by fd. Validation is limited to what keeps the object consistent.
 * It is a reference point for "how fast can this API physically be from C", not a selector
 * to use.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <unistd.h>

#define EV_READ 1
#define EV_WRITE 2

/* selectors.SelectorKey (a namedtuple class: a tuple subclass without __dict__) */
static PyTypeObject *key_type = NULL;
/* the ints 0..3, the possible `events` values of a ready event */
static PyObject *ev_int[4] = {NULL, NULL, NULL, NULL};
/* interned "fileno" */
static PyObject *str_fileno = NULL;

typedef struct {
    PyObject *key; /* strong reference, NULL if the fd is not registered */
    int events;    /* EV_READ | EV_WRITE of the key, to mask ready events without Python */
} Slot;

struct MapObject;

typedef struct {
    PyObject_HEAD
    int epfd;
    int busy;                /* inside select(): the event buffer is in use */
    Slot *slots;             /* indexed by fd */
    Py_ssize_t cap;          /* length of slots */
    Py_ssize_t count;        /* registered fds */
    struct epoll_event *evbuf;
    Py_ssize_t evcap;
    struct MapObject *map;   /* strong; created on the first get_map() */
} SelObject;

/* get_map() result: a borrowed back pointer to its selector, cleared when the selector dies */
typedef struct MapObject {
    PyObject_HEAD
    SelObject *sel;
} MapObject;

static PyTypeObject Sel_Type;
static PyTypeObject Map_Type;

/* ------------------------------------------------------------------------------------- */
/* helpers */

/* Minimal argument parsing for METH_FASTCALL | METH_KEYWORDS (out[i] = NULL if omitted). */
static int
parse_args(const char *fname, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
           const char *const *names, int nreq, int nmax, PyObject **out)
{
    int i;
    if (nargs > nmax) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most %d arguments (%zd given)", fname,
                     nmax, nargs);
        return -1;
    }
    for (i = 0; i < nmax; i++)
        out[i] = i < nargs ? args[i] : NULL;
    if (kwnames != NULL) {
        Py_ssize_t k, nkw = PyTuple_GET_SIZE(kwnames);
        for (k = 0; k < nkw; k++) {
            PyObject *name = PyTuple_GET_ITEM(kwnames, k);
            for (i = 0; i < nmax; i++) {
                if (PyUnicode_CompareWithASCIIString(name, names[i]) == 0)
                    break;
            }
            if (i == nmax) {
                PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument %R",
                             fname, name);
                return -1;
            }
            if (out[i] != NULL) {
                PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'",
                             fname, names[i]);
                return -1;
            }
            out[i] = args[nargs + k];
        }
    }
    for (i = 0; i < nreq; i++) {
        if (out[i] == NULL) {
            PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s'", fname,
                         names[i]);
            return -1;
        }
    }
    return 0;
}

/* fd of a file object: the int itself, else fileobj.fileno(). Returns a new reference to the
 * fd as a Python int (stored in the key) and the C value in *fd; NULL on error. */
static PyObject *
fd_of(PyObject *fileobj, int *fd)
{
    PyObject *obj;
    long v;
    if (PyLong_Check(fileobj)) {
        obj = Py_NewRef(fileobj);
    }
    else {
        obj = PyObject_CallMethodNoArgs(fileobj, str_fileno);
        if (obj == NULL)
            return NULL;
        if (!PyLong_Check(obj)) {
            Py_DECREF(obj);
            PyErr_Format(PyExc_ValueError, "Invalid file object: %R", fileobj);
            return NULL;
        }
    }
    v = PyLong_AsLong(obj);
    if (v == -1 && PyErr_Occurred()) {
        Py_DECREF(obj);
        return NULL;
    }
    if (v < 0 || v > INT_MAX) {
        Py_DECREF(obj);
        PyErr_Format(PyExc_ValueError, "Invalid file descriptor: %ld", v);
        return NULL;
    }
    *fd = (int)v;
    return obj;
}

/* The registered key of fileobj (borrowed) and its fd; NULL with KeyError if absent. */
static PyObject *
lookup(SelObject *self, PyObject *fileobj, int *fdp)
{
    int fd;
    PyObject *fdobj = fd_of(fileobj, &fd);
    if (fdobj == NULL)
        return NULL;
    Py_DECREF(fdobj);
    if (fd < self->cap && self->slots[fd].key != NULL) {
        if (fdp)
            *fdp = fd;
        return self->slots[fd].key;
    }
    PyErr_Format(PyExc_KeyError, "%R is not registered", fileobj);
    return NULL;
}

/* events argument: an int in 1..3 */
static int
parse_events(PyObject *obj)
{
    long v = PyLong_Check(obj) ? PyLong_AsLong(obj) : -1;
    if (v < 1 || v > 3) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "Invalid events: %R", obj);
        return -1;
    }
    return (int)v;
}

static uint32_t
epoll_mask(int events)
{
    return ((events & EV_READ) ? EPOLLIN : 0) | ((events & EV_WRITE) ? EPOLLOUT : 0);
}

/* A real selectors.SelectorKey(fileobj, fd, events, data), without calling its __new__. */
static PyObject *
make_key(PyObject *fileobj, PyObject *fd, int events, PyObject *data)
{
    PyObject *key = key_type->tp_alloc(key_type, 4);
    if (key == NULL)
        return NULL;
#if PY_VERSION_HEX >= 0x030E0000
    ((PyTupleObject *)key)->ob_hash = -1; /* 3.14+ caches tuple hashes; 0 would be a hit */
#endif
    PyTuple_SET_ITEM(key, 0, Py_NewRef(fileobj));
    PyTuple_SET_ITEM(key, 1, Py_NewRef(fd));
    PyTuple_SET_ITEM(key, 2, Py_NewRef(ev_int[events]));
    PyTuple_SET_ITEM(key, 3, Py_NewRef(data));
    return key;
}

static int
grow_slots(SelObject *self, int fd)
{
    Py_ssize_t cap = self->cap ? self->cap : 64;
    Slot *s;
    while (cap <= fd)
        cap *= 2;
    s = PyMem_Realloc(self->slots, (size_t)cap * sizeof(Slot));
    if (s == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memset(s + self->cap, 0, (size_t)(cap - self->cap) * sizeof(Slot));
    self->slots = s;
    self->cap = cap;
    return 0;
}

/* Drop every key (re-entrancy safe: a key's destruction may run arbitrary code). */
static void
clear_keys(SelObject *self)
{
    Py_ssize_t i;
    for (i = 0; i < self->cap; i++) {
        if (self->slots[i].key != NULL) {
            self->count--;
            Py_CLEAR(self->slots[i].key);
        }
    }
    self->count = 0;
}

/* ------------------------------------------------------------------------------------- */
/* EpollSelector */

static PyObject *
Sel_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    SelObject *self;
    if (PyTuple_GET_SIZE(args) != 0 || (kwargs != NULL && PyDict_GET_SIZE(kwargs) != 0)) {
        PyErr_SetString(PyExc_TypeError, "EpollSelector() takes no arguments");
        return NULL;
    }
    self = (SelObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (self->epfd < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static int
Sel_traverse(SelObject *self, visitproc visit, void *arg)
{
    Py_ssize_t i;
    for (i = 0; i < self->cap; i++)
        Py_VISIT(self->slots[i].key);
    return 0;
}

static int
Sel_clear(SelObject *self)
{
    clear_keys(self);
    return 0;
}

static void
Sel_dealloc(SelObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    clear_keys(self);
    if (self->epfd >= 0) {
        close(self->epfd);
        self->epfd = -1;
    }
    if (self->map != NULL) {
        self->map->sel = NULL;
        Py_CLEAR(self->map);
    }
    PyMem_Free(self->slots);
    PyMem_Free(self->evbuf);
    tp->tp_free((PyObject *)self);
}

static PyObject *
Sel_register(SelObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"fileobj", "events", "data"};
    PyObject *a[3], *fdobj, *key;
    int fd, events;
    struct epoll_event ev;

    if (parse_args("register", args, nargs, kwnames, names, 2, 3, a) < 0)
        return NULL;
    if ((events = parse_events(a[1])) < 0)
        return NULL;
    if ((fdobj = fd_of(a[0], &fd)) == NULL)
        return NULL;
    if (fd < self->cap && self->slots[fd].key != NULL) {
        PyErr_Format(PyExc_KeyError, "%R (FD %d) is already registered", a[0], fd);
        Py_DECREF(fdobj);
        return NULL;
    }
    if (fd >= self->cap && grow_slots(self, fd) < 0) {
        Py_DECREF(fdobj);
        return NULL;
    }
    key = make_key(a[0], fdobj, events, a[2] ? a[2] : Py_None);
    Py_DECREF(fdobj);
    if (key == NULL)
        return NULL;
    ev.events = epoll_mask(events);
    ev.data.u64 = (uint64_t)fd;
    if (epoll_ctl(self->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        Py_DECREF(key);
        return NULL;
    }
    if (self->slots[fd].key != NULL) {
        /* registered meanwhile by code run from make_key's allocation (a GC finalizer):
         * pathological; keep the first registration */
        Py_DECREF(key);
        PyErr_Format(PyExc_KeyError, "%R (FD %d) is already registered", a[0], fd);
        return NULL;
    }
    self->slots[fd].key = key;
    self->slots[fd].events = events;
    self->count++;
    return Py_NewRef(key);
}

static PyObject *
Sel_unregister(SelObject *self, PyObject *fileobj)
{
    int fd;
    struct epoll_event ev = {0};
    PyObject *key = lookup(self, fileobj, &fd);
    if (key == NULL)
        return NULL;
    /* like the stdlib: the fd may have been closed since; ignore the error */
    (void)epoll_ctl(self->epfd, EPOLL_CTL_DEL, fd, &ev);
    self->slots[fd].key = NULL;
    self->slots[fd].events = 0;
    self->count--;
    return key; /* the slot's reference */
}

static PyObject *
Sel_modify(SelObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"fileobj", "events", "data"};
    PyObject *a[3], *key, *data, *newkey, *old;
    int fd, events;

    if (parse_args("modify", args, nargs, kwnames, names, 2, 3, a) < 0)
        return NULL;
    data = a[2] ? a[2] : Py_None;
    if ((key = lookup(self, a[0], &fd)) == NULL)
        return NULL;
    if ((events = parse_events(a[1])) < 0)
        return NULL;
    if (events == self->slots[fd].events && data == PyTuple_GET_ITEM(key, 3))
        return Py_NewRef(key);
    if (events != self->slots[fd].events) {
        struct epoll_event ev;
        ev.events = epoll_mask(events);
        ev.data.u64 = (uint64_t)fd;
        if (epoll_ctl(self->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
            return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_INCREF(key); /* the allocation below may run a finalizer that unregisters fd */
    newkey = make_key(PyTuple_GET_ITEM(key, 0), PyTuple_GET_ITEM(key, 1), events, data);
    Py_DECREF(key);
    if (newkey == NULL)
        return NULL;
    old = self->slots[fd].key; /* re-read: the allocation may have run a finalizer */
    self->slots[fd].key = Py_NewRef(newkey);
    self->slots[fd].events = events;
    if (old == NULL)
        self->count++;
    Py_XDECREF(old);
    return newkey;
}

static PyObject *
Sel_select(SelObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"timeout"};
    PyObject *a[1], *list;
    int timeout_ms, n, i, maxev;
    Py_ssize_t j;

    if (parse_args("select", args, nargs, kwnames, names, 0, 1, a) < 0)
        return NULL;
    if (a[0] == NULL || a[0] == Py_None) {
        timeout_ms = -1;
    }
    else if (PyLong_CheckExact(a[0])) {
        int overflow;
        long t = PyLong_AsLongAndOverflow(a[0], &overflow);
        if (t == -1 && PyErr_Occurred())
            return NULL;
        if (overflow < 0 || t <= 0)
            timeout_ms = 0;
        else if (overflow > 0 || t >= INT_MAX / 1000)
            timeout_ms = INT_MAX;
        else
            timeout_ms = (int)t * 1000;
    }
    else {
        double t = PyFloat_AsDouble(a[0]);
        if (t == -1.0 && PyErr_Occurred())
            return NULL;
        if (isnan(t)) {
            PyErr_SetString(PyExc_ValueError, "Invalid timeout: nan");
            return NULL;
        }
        if (t <= 0)
            timeout_ms = 0;
        else if (t * 1e3 >= (double)INT_MAX)
            timeout_ms = INT_MAX;
        else
            timeout_ms = (int)ceil(t * 1e3);
    }
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "select() is already running on this selector");
        return NULL;
    }
    maxev = self->count > 1 ? (self->count > INT_MAX ? INT_MAX : (int)self->count) : 1;
    if (maxev > self->evcap) {
        struct epoll_event *buf;
        PyMem_Free(self->evbuf);
        self->evbuf = NULL;
        self->evcap = 0;
        buf = PyMem_Malloc((size_t)maxev * sizeof(struct epoll_event));
        if (buf == NULL)
            return PyErr_NoMemory();
        self->evbuf = buf;
        self->evcap = maxev;
    }
    /* evbuf is ours until we return: busy refuses a concurrent select() from another thread
     * (the GIL is released) or a re-entrant one from a finalizer run by an allocation */
    self->busy = 1;
    if (timeout_ms == 0) {
        n = epoll_wait(self->epfd, self->evbuf, maxev, 0);
    }
    else {
        Py_BEGIN_ALLOW_THREADS
        n = epoll_wait(self->epfd, self->evbuf, maxev, timeout_ms);
        Py_END_ALLOW_THREADS
    }
    if (n < 0) {
        int err = errno;
        self->busy = 0;
        if (err == EINTR) {
            if (PyErr_CheckSignals() < 0)
                return NULL;
            return PyList_New(0);
        }
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    list = PyList_New(n);
    if (list == NULL) {
        self->busy = 0;
        return NULL;
    }
    for (i = 0, j = 0; i < n; i++) {
        uint32_t e = self->evbuf[i].events;
        uint64_t fd = self->evbuf[i].data.u64;
        int mask;
        PyObject *tup = PyTuple_New(2), *key;
        if (tup == NULL) {
            self->busy = 0;
            Py_DECREF(list);
            return NULL;
        }
        /* read the slot after the allocation (a finalizer run by the GC may unregister) */
        if (fd >= (uint64_t)self->cap || (key = self->slots[fd].key) == NULL) {
            Py_DECREF(tup);
            continue;
        }
        mask = ((e & EPOLLIN) ? EV_READ : 0) | ((e & EPOLLOUT) ? EV_WRITE : 0)
               | ((e & (EPOLLERR | EPOLLHUP)) ? (EV_READ | EV_WRITE) : 0);
        mask &= self->slots[fd].events;
        PyTuple_SET_ITEM(tup, 0, Py_NewRef(key));
        PyTuple_SET_ITEM(tup, 1, Py_NewRef(ev_int[mask]));
        PyList_SET_ITEM(list, j, tup);
        j++;
    }
    self->busy = 0;
    if (j < n)
        Py_SET_SIZE(list, j); /* the tail slots are NULL */
    return list;
}

static PyObject *
Sel_get_key(SelObject *self, PyObject *fileobj)
{
    PyObject *key = lookup(self, fileobj, NULL);
    return key ? Py_NewRef(key) : NULL;
}

static PyObject *
Sel_get_map(SelObject *self, PyObject *Py_UNUSED(ignored))
{
    if (self->map == NULL) {
        MapObject *m = PyObject_New(MapObject, &Map_Type);
        if (m == NULL)
            return NULL;
        m->sel = self;
        self->map = m;
    }
    return Py_NewRef((PyObject *)self->map);
}

static PyObject *
Sel_close(SelObject *self, PyObject *Py_UNUSED(ignored))
{
    if (self->epfd >= 0) {
        int fd = self->epfd;
        self->epfd = -1;
        if (close(fd) < 0 && errno != EINTR)
            return PyErr_SetFromErrno(PyExc_OSError);
    }
    clear_keys(self);
    Py_RETURN_NONE;
}

static PyObject *
Sel_fileno(SelObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromLong(self->epfd);
}

static PyObject *
Sel_enter(SelObject *self, PyObject *Py_UNUSED(ignored))
{
    return Py_NewRef((PyObject *)self);
}

static PyObject *
Sel_exit(SelObject *self, PyObject *Py_UNUSED(args))
{
    return Sel_close(self, NULL);
}

static PyMethodDef Sel_methods[] = {
    {"register", (PyCFunction)(void (*)(void))Sel_register, METH_FASTCALL | METH_KEYWORDS,
     "register(fileobj, events, data=None) -> SelectorKey"},
    {"unregister", (PyCFunction)Sel_unregister, METH_O, "unregister(fileobj) -> SelectorKey"},
    {"modify", (PyCFunction)(void (*)(void))Sel_modify, METH_FASTCALL | METH_KEYWORDS,
     "modify(fileobj, events, data=None) -> SelectorKey"},
    {"select", (PyCFunction)(void (*)(void))Sel_select, METH_FASTCALL | METH_KEYWORDS,
     "select(timeout=None) -> [(key, events)]"},
    {"get_key", (PyCFunction)Sel_get_key, METH_O, "get_key(fileobj) -> SelectorKey"},
    {"get_map", (PyCFunction)Sel_get_map, METH_NOARGS, "get_map() -> mapping fileobj -> key"},
    {"close", (PyCFunction)Sel_close, METH_NOARGS, "close the epoll fd, drop the keys"},
    {"fileno", (PyCFunction)Sel_fileno, METH_NOARGS, "the epoll fd"},
    {"__enter__", (PyCFunction)Sel_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)Sel_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject Sel_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_cfloor.EpollSelector",
    .tp_doc = "Minimal epoll selector (the C floor of the rselectors benchmarks).",
    .tp_basicsize = sizeof(SelObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = Sel_new,
    .tp_dealloc = (destructor)Sel_dealloc,
    .tp_traverse = (traverseproc)Sel_traverse,
    .tp_clear = (inquiry)Sel_clear,
    .tp_methods = Sel_methods,
};

/* ------------------------------------------------------------------------------------- */
/* the get_map() object */

static PyObject *
Map_lookup(MapObject *self, PyObject *fileobj)
{
    if (self->sel == NULL) {
        PyErr_Format(PyExc_KeyError, "%R is not registered", fileobj);
        return NULL;
    }
    return lookup(self->sel, fileobj, NULL);
}

static PyObject *
Map_get(MapObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *key;
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "get(fileobj, default=None)");
        return NULL;
    }
    key = Map_lookup(self, args[0]);
    if (key != NULL)
        return Py_NewRef(key);
    if (!PyErr_ExceptionMatches(PyExc_KeyError))
        return NULL;
    PyErr_Clear();
    return Py_NewRef(nargs == 2 ? args[1] : Py_None);
}

static PyObject *
Map_subscript(MapObject *self, PyObject *fileobj)
{
    PyObject *key = Map_lookup(self, fileobj);
    return key ? Py_NewRef(key) : NULL;
}

static Py_ssize_t
Map_length(MapObject *self)
{
    return self->sel ? self->sel->count : 0;
}

static void
Map_dealloc(MapObject *self)
{
    /* the selector holds a strong reference to its map: it is gone or has let go of us */
    PyObject_Free(self);
}

static PyMethodDef Map_methods[] = {
    {"get", (PyCFunction)(void (*)(void))Map_get, METH_FASTCALL,
     "get(fileobj, default=None) -> SelectorKey or default"},
    {NULL, NULL, 0, NULL},
};

static PyMappingMethods Map_as_mapping = {
    .mp_length = (lenfunc)Map_length,
    .mp_subscript = (binaryfunc)Map_subscript,
};

static PyTypeObject Map_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_cfloor.SelectorMap",
    .tp_basicsize = sizeof(MapObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)Map_dealloc,
    .tp_as_mapping = &Map_as_mapping,
    .tp_methods = Map_methods,
};

/* ------------------------------------------------------------------------------------- */
/* the kernel's share: a case's bare system calls, `n` times in a C loop, nothing else */

/* bare_epoll_wait(epfd, maxevents, n): epoll_wait(epfd, buf, maxevents, 0), n times */
static PyObject *
bare_epoll_wait(PyObject *Py_UNUSED(m), PyObject *args)
{
    int epfd, maxevents, r;
    long n, i;
    struct epoll_event *buf;
    if (!PyArg_ParseTuple(args, "iil", &epfd, &maxevents, &n))
        return NULL;
    if (maxevents < 1) {
        PyErr_SetString(PyExc_ValueError, "maxevents must be >= 1");
        return NULL;
    }
    buf = PyMem_Malloc(sizeof(struct epoll_event) * (size_t)maxevents);
    if (buf == NULL)
        return PyErr_NoMemory();
    for (i = 0; i < n; i++) {
        r = epoll_wait(epfd, buf, maxevents, 0);
        if (r < 0 && errno != EINTR) {
            PyMem_Free(buf);
            return PyErr_SetFromErrno(PyExc_OSError);
        }
    }
    PyMem_Free(buf);
    Py_RETURN_NONE;
}

/* bare_epoll_ctl(epfd, fd, pair, n): n times, pair 0: EPOLL_CTL_ADD (EPOLLIN) then
 * EPOLL_CTL_DEL of fd; pair 1: EPOLL_CTL_MOD to EPOLLIN|EPOLLOUT then to EPOLLIN */
static PyObject *
bare_epoll_ctl(PyObject *Py_UNUSED(m), PyObject *args)
{
    int epfd, fd, pair;
    long n, i;
    struct epoll_event in = {.events = EPOLLIN}, inout = {.events = EPOLLIN | EPOLLOUT};
    if (!PyArg_ParseTuple(args, "iiil", &epfd, &fd, &pair, &n))
        return NULL;
    in.data.fd = inout.data.fd = fd;
    for (i = 0; i < n; i++) {
        int a = pair ? epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &inout)
                     : epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &in);
        int b = pair ? epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &in)
                     : epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
        if (a < 0 || b < 0)
            return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

/* bare_epoll_life(fd, timeout_ms, n): n times, a whole epoll selector's life around one fd:
 * epoll_create1, EPOLL_CTL_ADD (EPOLLIN), epoll_wait(..., 1, timeout_ms), close */
static PyObject *
bare_epoll_life(PyObject *Py_UNUSED(m), PyObject *args)
{
    int fd, timeout, epfd;
    long n, i;
    struct epoll_event in = {.events = EPOLLIN}, out;
    if (!PyArg_ParseTuple(args, "iil", &fd, &timeout, &n))
        return NULL;
    in.data.fd = fd;
    for (i = 0; i < n; i++) {
        if ((epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
            return PyErr_SetFromErrno(PyExc_OSError);
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &in) < 0
            || (epoll_wait(epfd, &out, 1, timeout) < 0 && errno != EINTR)) {
            PyErr_SetFromErrno(PyExc_OSError);
            close(epfd);
            return NULL;
        }
        close(epfd);
    }
    Py_RETURN_NONE;
}

/* Parses (read_fds, write_fds, n) into a new PyMem array of the read fds then the write fds
 * (*nr and *nw of them) and *n; NULL on error. */
static int *
rw_fds(PyObject *args, Py_ssize_t *nr, Py_ssize_t *nw, long *n)
{
    PyObject *seqs[2], *fast[2] = {NULL, NULL};
    Py_ssize_t i, j, k = 0;
    int *out = NULL;
    if (!PyArg_ParseTuple(args, "OOl", &seqs[0], &seqs[1], n))
        return NULL;
    for (i = 0; i < 2; i++) {
        if ((fast[i] = PySequence_Fast(seqs[i], "expected a sequence of fds")) == NULL)
            goto done;
    }
    *nr = PySequence_Fast_GET_SIZE(fast[0]);
    *nw = PySequence_Fast_GET_SIZE(fast[1]);
    if ((out = PyMem_Malloc(sizeof(int) * (size_t)(*nr + *nw + 1))) == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (i = 0; i < 2; i++) {
        for (j = 0; j < PySequence_Fast_GET_SIZE(fast[i]); j++) {
            long v = PyLong_AsLong(PySequence_Fast_GET_ITEM(fast[i], j));
            if (v == -1 && PyErr_Occurred()) {
                PyMem_Free(out);
                out = NULL;
                goto done;
            }
            out[k++] = (int)v;
        }
    }
done:
    Py_XDECREF(fast[0]);
    Py_XDECREF(fast[1]);
    return out;
}

/* bare_poll(read_fds, write_fds, n): poll() of POLLIN for read_fds and POLLOUT for write_fds,
 * timeout 0, n times */
static PyObject *
bare_poll(PyObject *Py_UNUSED(m), PyObject *args)
{
    Py_ssize_t nr, nw, i;
    long n, j;
    struct pollfd *p;
    int *fds = rw_fds(args, &nr, &nw, &n);
    if (fds == NULL)
        return NULL;
    p = PyMem_Malloc(sizeof(struct pollfd) * (size_t)(nr + nw + 1));
    if (p == NULL) {
        PyMem_Free(fds);
        return PyErr_NoMemory();
    }
    for (i = 0; i < nr + nw; i++)
        p[i] = (struct pollfd){.fd = fds[i], .events = i < nr ? POLLIN : POLLOUT};
    PyMem_Free(fds);
    for (j = 0; j < n; j++) {
        if (poll(p, (nfds_t)(nr + nw), 0) < 0 && errno != EINTR) {
            PyMem_Free(p);
            return PyErr_SetFromErrno(PyExc_OSError);
        }
    }
    PyMem_Free(p);
    Py_RETURN_NONE;
}

/* bare_select(read_fds, write_fds, n): select() of the read and write sets (and an empty
 * except set, as select.select passes one), timeout 0, n times; the sets are copied back
 * from templates before each call, as the kernel overwrites them */
static PyObject *
bare_select(PyObject *Py_UNUSED(m), PyObject *args)
{
    Py_ssize_t nr, nw, i;
    long n, j;
    int maxfd = -1;
    fd_set rt, wt, rset, wset, xset;
    int *fds = rw_fds(args, &nr, &nw, &n);
    if (fds == NULL)
        return NULL;
    FD_ZERO(&rt);
    FD_ZERO(&wt);
    for (i = 0; i < nr + nw; i++) {
        if (fds[i] < 0 || fds[i] >= FD_SETSIZE) {
            PyMem_Free(fds);
            PyErr_SetString(PyExc_ValueError, "fd out of range for select()");
            return NULL;
        }
        FD_SET(fds[i], i < nr ? &rt : &wt);
        if (fds[i] > maxfd)
            maxfd = fds[i];
    }
    PyMem_Free(fds);
    for (j = 0; j < n; j++) {
        struct timeval tv = {0, 0};
        rset = rt;
        wset = wt;
        FD_ZERO(&xset);
        if (select(maxfd + 1, &rset, &wset, &xset, &tv) < 0 && errno != EINTR)
            return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"bare_epoll_wait", bare_epoll_wait, METH_VARARGS,
     "bare_epoll_wait(epfd, maxevents, n): epoll_wait(..., timeout 0), n times"},
    {"bare_epoll_ctl", bare_epoll_ctl, METH_VARARGS,
     "bare_epoll_ctl(epfd, fd, pair, n): ADD+DEL (pair 0) or MOD+MOD (pair 1), n times"},
    {"bare_epoll_life", bare_epoll_life, METH_VARARGS,
     "bare_epoll_life(fd, timeout_ms, n): create + ADD + wait + close, n times"},
    {"bare_poll", bare_poll, METH_VARARGS,
     "bare_poll(read_fds, write_fds, n): poll(..., timeout 0), n times"},
    {"bare_select", bare_select, METH_VARARGS,
     "bare_select(read_fds, write_fds, n): select(..., timeout 0), n times"},
    {NULL, NULL, 0, NULL},
};

/* ------------------------------------------------------------------------------------- */
/* module */

static struct PyModuleDef cfloor_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_cfloor",
    .m_doc = "Minimal C reference selector (epoll_wait + tuple building) for benchmarks.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC
PyInit__cfloor(void)
{
    PyObject *m, *selectors, *kt;
    int i;

    if (str_fileno == NULL && (str_fileno = PyUnicode_InternFromString("fileno")) == NULL)
        return NULL;
    if (PyType_Ready(&Sel_Type) < 0 || PyType_Ready(&Map_Type) < 0)
        return NULL;
    if (key_type == NULL) {
        selectors = PyImport_ImportModule("selectors");
        if (selectors == NULL)
            return NULL;
        kt = PyObject_GetAttrString(selectors, "SelectorKey");
        Py_DECREF(selectors);
        if (kt == NULL)
            return NULL;
        if (!PyType_Check(kt) || !PyType_IsSubtype((PyTypeObject *)kt, &PyTuple_Type)
            || ((PyTypeObject *)kt)->tp_basicsize != PyTuple_Type.tp_basicsize
            || ((PyTypeObject *)kt)->tp_dictoffset != 0) {
            Py_DECREF(kt);
            PyErr_SetString(PyExc_ImportError,
                            "selectors.SelectorKey is not a plain namedtuple class");
            return NULL;
        }
        key_type = (PyTypeObject *)kt;
        for (i = 0; i < 4; i++) {
            if ((ev_int[i] = PyLong_FromLong(i)) == NULL)
                return NULL;
        }
    }
    m = PyModule_Create(&cfloor_module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddIntConstant(m, "EVENT_READ", EV_READ) < 0
        || PyModule_AddIntConstant(m, "EVENT_WRITE", EV_WRITE) < 0
        || PyModule_AddStringConstant(m, "__version__", "floor") < 0
        || PyModule_AddObjectRef(m, "SelectorKey", (PyObject *)key_type) < 0
        || PyModule_AddObjectRef(m, "EpollSelector", (PyObject *)&Sel_Type) < 0
        || PyModule_AddObjectRef(m, "DefaultSelector", (PyObject *)&Sel_Type) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
