/*
 * _cfloor: the "C floor" for the rselectors benchmarks.
 *
 * A deliberately minimal CPython extension with just enough of the `selectors` API
 * (EpollSelector, PollSelector, SelectSelector; Linux only) for the benchmark engine to drive
 * it: the backend's system calls plus building the Python objects the API has to return
 * (real `selectors.SelectorKey` instances, a list of `(key, events)` tuples). Keys live in a
 * C array indexed by fd. Validation is limited to what keeps the object consistent.
 * It is a reference point for "how fast can this API physically be from C", not a selector
 * to use.
 *
 * The three classes share everything (the key table, argument parsing, key building, the
 * map, select()'s result, close) but their `Kernel`: adding, modifying and removing an fd in
 * the kernel-side (epoll) or user-space (pollfd array, fd_set templates) set, and the wait
 * with the collection of the ready fds.
 *
 * Built with -DCFLOOR_CONTRACT (module `_cfloor_contract`), the classes also do what the
 * stdlib's classes do and this minimal floor leaves out: instances have a `__dict__` (made
 * on first use) and weak references, the classes can be subclassed, and `with` closes
 * through `self.close()`, so a subclass's or an instance's `close` runs.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <unistd.h>

#define EV_READ 1
#define EV_WRITE 2

#ifdef CFLOOR_CONTRACT
#define FLOOR_NAME "_cfloor_contract"
#define FLOOR_INIT PyInit__cfloor_contract
#else
#define FLOOR_NAME "_cfloor"
#define FLOOR_INIT PyInit__cfloor
#endif

/* selectors.SelectorKey (a namedtuple class: a tuple subclass without __dict__) */
static PyTypeObject *key_type = NULL;
/* the ints 0..3, the possible `events` values of a ready event */
static PyObject *ev_int[4] = {NULL, NULL, NULL, NULL};
/* interned "fileno" */
static PyObject *str_fileno = NULL;
#ifdef CFLOOR_CONTRACT
/* interned "close" */
static PyObject *str_close = NULL;
#endif

typedef struct {
    PyObject *key; /* strong reference, NULL if the fd is not registered */
    int events;    /* EV_READ | EV_WRITE of the key, to mask ready events without Python */
    int idx;       /* PollSelector: the index of the fd's entry in the pollfd array */
} Slot;

struct MapObject;
struct Kernel;

/* The part every class shares; each class's object starts with it. */
typedef struct {
    PyObject_HEAD
    const struct Kernel *k;
    int busy;                /* inside select(): the backend's wait buffers are in use */
    Slot *slots;             /* indexed by fd */
    Py_ssize_t cap;          /* length of slots */
    Py_ssize_t count;        /* registered fds */
    struct MapObject *map;   /* strong; created on the first get_map() */
#ifdef CFLOOR_CONTRACT
    PyObject *dict;          /* the instance __dict__, made on first use */
    PyObject *weakreflist;
#endif
} SelObject;

/* What differs per class. Only `add`, `mod` and `prepare` may raise; none runs Python code.
 * `wait` is the system call alone (the GIL may be released around it). */
typedef struct Kernel {
    PyTypeObject *type;
    int (*open)(SelObject *);                  /* after allocation; NULL: nothing to do */
    int (*add)(SelObject *, int fd, int events);
    int (*mod)(SelObject *, int fd, int events);
    void (*del)(SelObject *, int fd);          /* errors ignored, as the stdlib does */
    int (*prepare)(SelObject *, int blocking); /* GIL held: size or snapshot the wait's input */
    int (*wait)(SelObject *, long long timeout_us); /* ready count (an upper bound of next()'s
                                                     * yield) or -1 with errno */
    int (*next)(SelObject *, Py_ssize_t *pos, int *fd); /* the stdlib's events of the next
                                                          * ready fd, 0 when there is none */
    int (*close)(SelObject *);                 /* close(): the kernel object; NULL: none */
    void (*free)(SelObject *);                 /* dealloc: the backend's buffers */
} Kernel;

/* get_map() result: a borrowed back pointer to its selector, cleared when the selector dies */
typedef struct MapObject {
    PyObject_HEAD
    SelObject *sel;
} MapObject;

static PyTypeObject Epoll_Type;
static PyTypeObject Poll_Type;
static PyTypeObject Select_Type;
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

/* the longest wait: INT_MAX ms, epoll_wait's and poll's limit */
#define MAX_TIMEOUT_US ((long long)INT_MAX * 1000)

/* select()'s timeout in microseconds (rounded up; -1: None, wait forever), -2 on error */
static long long
parse_timeout(PyObject *obj)
{
    if (obj == NULL || obj == Py_None)
        return -1;
    if (PyLong_CheckExact(obj)) {
        int overflow;
        long t = PyLong_AsLongAndOverflow(obj, &overflow);
        if (t == -1 && PyErr_Occurred())
            return -2;
        if (overflow < 0 || t <= 0)
            return 0;
        if (overflow > 0 || t >= INT_MAX / 1000)
            return MAX_TIMEOUT_US;
        return (long long)t * 1000000;
    }
    else {
        double t = PyFloat_AsDouble(obj);
        if (t == -1.0 && PyErr_Occurred())
            return -2;
        if (isnan(t)) {
            PyErr_SetString(PyExc_ValueError, "Invalid timeout: nan");
            return -2;
        }
        if (t <= 0)
            return 0;
        if (t * 1e6 >= (double)MAX_TIMEOUT_US)
            return MAX_TIMEOUT_US;
        return (long long)ceil(t * 1e6);
    }
}

/* a timeout in microseconds as epoll_wait's and poll's milliseconds, rounded up */
static int
timeout_ms(long long us)
{
    return us < 0 ? -1 : (int)((us + 999) / 1000);
}

/* EV_READ/EV_WRITE as a backend's input/output bits (EPOLLIN/EPOLLOUT, POLLIN/POLLOUT) */
static unsigned
kernel_mask(int events, unsigned in, unsigned out)
{
    return ((events & EV_READ) ? in : 0) | ((events & EV_WRITE) ? out : 0);
}

/* A backend's ready bits as the stdlib reads them: anything but `in` (errors, hang-ups
 * included) counts as writable, anything but `out` as readable. */
static int
ready_mask(unsigned e, unsigned in, unsigned out)
{
    return ((e & ~out) ? EV_READ : 0) | ((e & ~in) ? EV_WRITE : 0);
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

/* Grow the PyMem array *p of *cap items of `size` bytes to hold at least `need` (at least
 * doubling); new items are zeroed. 0, or -1 with MemoryError. */
static int
grow(void **p, Py_ssize_t *cap, Py_ssize_t need, size_t size)
{
    Py_ssize_t n = *cap * 2;
    char *q;
    if (need <= *cap)
        return 0;
    if (n < need)
        n = need;
    q = PyMem_Realloc(*p, (size_t)n * size);
    if (q == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memset(q + (size_t)*cap * size, 0, (size_t)(n - *cap) * size);
    *p = q;
    *cap = n;
    return 0;
}

/* Drop every key, removing its fd from the backend's set first (re-entrancy safe: a key's
 * destruction may run arbitrary code, which sees a consistent selector). */
static void
clear_keys(SelObject *self)
{
    Py_ssize_t i;
    for (i = 0; i < self->cap; i++) {
        PyObject *key = self->slots[i].key;
        if (key != NULL) {
            self->k->del(self, (int)i);
            self->slots[i].key = NULL;
            self->slots[i].events = 0;
            self->count--;
            Py_DECREF(key);
        }
    }
}

/* ------------------------------------------------------------------------------------- */
/* the kernels */

/* EpollSelector: the set is the kernel's; select() waits into a buffer of `count` events */
typedef struct {
    SelObject base;
    int epfd;
    int maxev;  /* the wait's buffer length, `count` when it started */
    int nready;
    struct epoll_event *evbuf;
    Py_ssize_t evcap;
} EpollObject;

#define EP(s) ((EpollObject *)(s))

static int
epoll_open(SelObject *s)
{
    EP(s)->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (EP(s)->epfd < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    return 0;
}

static int
epoll_ctl_events(SelObject *s, int op, int fd, int events)
{
    struct epoll_event ev;
    ev.events = kernel_mask(events, EPOLLIN, EPOLLOUT);
    ev.data.u64 = (uint64_t)fd;
    if (epoll_ctl(EP(s)->epfd, op, fd, &ev) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    return 0;
}

static int
epoll_add(SelObject *s, int fd, int events)
{
    return epoll_ctl_events(s, EPOLL_CTL_ADD, fd, events);
}

static int
epoll_mod(SelObject *s, int fd, int events)
{
    return epoll_ctl_events(s, EPOLL_CTL_MOD, fd, events);
}

static void
epoll_del(SelObject *s, int fd)
{
    struct epoll_event ev = {0};
    /* like the stdlib: the fd may have been closed since; ignore the error */
    if (EP(s)->epfd >= 0)
        (void)epoll_ctl(EP(s)->epfd, EPOLL_CTL_DEL, fd, &ev);
}

static int
epoll_prepare(SelObject *s, int Py_UNUSED(blocking))
{
    EP(s)->maxev = s->count > 1 ? (s->count > INT_MAX ? INT_MAX : (int)s->count) : 1;
    return grow((void **)&EP(s)->evbuf, &EP(s)->evcap, EP(s)->maxev, sizeof(struct epoll_event));
}

static int
epoll_wait_ready(SelObject *s, long long timeout_us)
{
    EpollObject *e = EP(s);
    return e->nready = epoll_wait(e->epfd, e->evbuf, e->maxev, timeout_ms(timeout_us));
}

static int
epoll_next(SelObject *s, Py_ssize_t *pos, int *fd)
{
    struct epoll_event *ev;
    if (*pos >= EP(s)->nready)
        return 0;
    ev = &EP(s)->evbuf[(*pos)++];
    *fd = (int)ev->data.u64;
    return ready_mask(ev->events, EPOLLIN, EPOLLOUT);
}

static int
epoll_close(SelObject *s)
{
    int fd = EP(s)->epfd;
    if (fd >= 0) {
        EP(s)->epfd = -1;
        if (close(fd) < 0 && errno != EINTR) {
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
    }
    return 0;
}

static void
epoll_free(SelObject *s)
{
    PyMem_Free(EP(s)->evbuf);
}

/* PollSelector: a pollfd array beside the key table (the slot holds the entry's index;
 * unregister moves the last entry into the hole). A select() that may block releases the
 * GIL, so it polls a snapshot: another thread's register may reallocate the array. */
typedef struct {
    SelObject base;
    struct pollfd *fds;
    Py_ssize_t nfds, cap;
    struct pollfd *snap; /* the blocking wait's copy of fds */
    Py_ssize_t snapcap;
    Py_ssize_t npolled;  /* entries in the wait's array */
    int snapped;         /* the wait polled snap, not fds */
} PollObject;

#define PL(s) ((PollObject *)(s))

static int
poll_add(SelObject *s, int fd, int events)
{
    PollObject *p = PL(s);
    if (grow((void **)&p->fds, &p->cap, p->nfds + 1, sizeof(struct pollfd)) < 0)
        return -1;
    p->fds[p->nfds] = (struct pollfd){.fd = fd, .events = kernel_mask(events, POLLIN, POLLOUT)};
    s->slots[fd].idx = (int)p->nfds++;
    return 0;
}

static int
poll_mod(SelObject *s, int fd, int events)
{
    PL(s)->fds[s->slots[fd].idx].events = kernel_mask(events, POLLIN, POLLOUT);
    return 0;
}

static void
poll_del(SelObject *s, int fd)
{
    PollObject *p = PL(s);
    int i = s->slots[fd].idx;
    p->fds[i] = p->fds[--p->nfds];
    s->slots[p->fds[i].fd].idx = i;
}

static int
poll_prepare(SelObject *s, int blocking)
{
    PollObject *p = PL(s);
    p->npolled = p->nfds;
    p->snapped = blocking;
    if (!blocking)
        return 0;
    if (grow((void **)&p->snap, &p->snapcap, p->nfds, sizeof(struct pollfd)) < 0)
        return -1;
    if (p->nfds)
        memcpy(p->snap, p->fds, (size_t)p->nfds * sizeof(struct pollfd));
    return 0;
}

static int
poll_wait_ready(SelObject *s, long long timeout_us)
{
    PollObject *p = PL(s);
    return poll(p->snapped ? p->snap : p->fds, (nfds_t)p->npolled, timeout_ms(timeout_us));
}

static int
poll_next(SelObject *s, Py_ssize_t *pos, int *fd)
{
    PollObject *p = PL(s);
    /* fds is re-read: a finalizer run while the result is built may (un)register */
    struct pollfd *a = p->snapped ? p->snap : p->fds;
    Py_ssize_t n = p->snapped ? p->npolled : p->nfds;
    while (*pos < n) {
        struct pollfd *e = &a[(*pos)++];
        if (e->revents) {
            *fd = e->fd;
            return ready_mask((unsigned)e->revents, POLLIN, POLLOUT);
        }
    }
    return 0;
}

static void
poll_free(SelObject *s)
{
    PyMem_Free(PL(s)->fds);
    PyMem_Free(PL(s)->snap);
}

/* SelectSelector: fd_set templates of the read and write fds and the highest fd; select()
 * waits on copies (the kernel overwrites its sets) */
typedef struct {
    SelObject base;
    fd_set rt, wt; /* the registered fds */
    fd_set rs, ws; /* the wait's sets: its input, then the ready fds */
    int maxfd;     /* the highest registered fd, -1 if none */
    int nsel;      /* the wait's first argument, maxfd + 1 when it started */
} SelectObject;

#define SL(s) ((SelectObject *)(s))
#define WORD_BITS ((int)(8 * sizeof(unsigned long)))

static int
select_open(SelObject *s)
{
    FD_ZERO(&SL(s)->rt);
    FD_ZERO(&SL(s)->wt);
    SL(s)->maxfd = -1;
    return 0;
}

static int
select_mod(SelObject *s, int fd, int events)
{
    SelectObject *o = SL(s);
    if (events & EV_READ)
        FD_SET(fd, &o->rt);
    else
        FD_CLR(fd, &o->rt);
    if (events & EV_WRITE)
        FD_SET(fd, &o->wt);
    else
        FD_CLR(fd, &o->wt);
    return 0;
}

static int
select_add(SelObject *s, int fd, int events)
{
    if (fd >= FD_SETSIZE) {
        PyErr_SetString(PyExc_ValueError, "filedescriptor out of range in select()");
        return -1;
    }
    if (fd > SL(s)->maxfd)
        SL(s)->maxfd = fd;
    return select_mod(s, fd, events);
}

static void
select_del(SelObject *s, int fd)
{
    SelectObject *o = SL(s);
    FD_CLR(fd, &o->rt);
    FD_CLR(fd, &o->wt);
    while (o->maxfd >= 0 && !FD_ISSET(o->maxfd, &o->rt) && !FD_ISSET(o->maxfd, &o->wt))
        o->maxfd--;
}

static int
select_prepare(SelObject *s, int Py_UNUSED(blocking))
{
    SelectObject *o = SL(s);
    o->rs = o->rt;
    o->ws = o->wt;
    o->nsel = o->maxfd + 1;
    return 0;
}

static int
select_wait_ready(SelObject *s, long long timeout_us)
{
    SelectObject *o = SL(s);
    struct timeval tv = {.tv_sec = timeout_us / 1000000, .tv_usec = timeout_us % 1000000};
    return select(o->nsel, &o->rs, &o->ws, NULL, timeout_us < 0 ? NULL : &tv);
}

static int
select_next(SelObject *s, Py_ssize_t *pos, int *fdp)
{
    SelectObject *o = SL(s);
    /* a word of both sets at a time: most of them are empty */
    while (*pos < o->nsel) {
        int fd = (int)*pos, w = fd / WORD_BITS;
        unsigned long bits = ((unsigned long)o->rs.fds_bits[w] | (unsigned long)o->ws.fds_bits[w])
                             >> (fd % WORD_BITS);
        if (bits == 0) {
            *pos = (Py_ssize_t)(w + 1) * WORD_BITS;
            continue;
        }
        fd += __builtin_ctzl(bits);
        if (fd >= o->nsel)
            break;
        *pos = fd + 1;
        *fdp = fd;
        return (FD_ISSET(fd, &o->rs) ? EV_READ : 0) | (FD_ISSET(fd, &o->ws) ? EV_WRITE : 0);
    }
    return 0;
}

static const Kernel epoll_kernel = {
    &Epoll_Type, epoll_open, epoll_add, epoll_mod, epoll_del, epoll_prepare,
    epoll_wait_ready, epoll_next, epoll_close, epoll_free,
};
static const Kernel poll_kernel = {
    &Poll_Type, NULL, poll_add, poll_mod, poll_del, poll_prepare,
    poll_wait_ready, poll_next, NULL, poll_free,
};
static const Kernel select_kernel = {
    &Select_Type, select_open, select_add, select_mod, select_del, select_prepare,
    select_wait_ready, select_next, NULL, NULL,
};
static const Kernel *const kernels[] = {&epoll_kernel, &poll_kernel, &select_kernel};

/* ------------------------------------------------------------------------------------- */
/* the selector classes: one implementation, the kernel picked by the type */

static PyObject *
Sel_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    SelObject *self;
    const Kernel *k = NULL;
    size_t i;
    if (PyTuple_GET_SIZE(args) != 0 || (kwargs != NULL && PyDict_GET_SIZE(kwargs) != 0)) {
        PyErr_Format(PyExc_TypeError, "%s() takes no arguments", type->tp_name);
        return NULL;
    }
    for (i = 0; i < sizeof(kernels) / sizeof(kernels[0]); i++) {
        if (kernels[i]->type == type)
            k = kernels[i];
#ifdef CFLOOR_CONTRACT
        else if (k == NULL && PyType_IsSubtype(type, kernels[i]->type))
            k = kernels[i]; /* a subclass: its base's kernel */
#endif
    }
    self = (SelObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->k = k;
    if (k->open && k->open(self) < 0) {
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
#ifdef CFLOOR_CONTRACT
    Py_VISIT(self->dict);
#endif
    return 0;
}

static int
Sel_clear(SelObject *self)
{
    clear_keys(self);
#ifdef CFLOOR_CONTRACT
    Py_CLEAR(self->dict);
#endif
    return 0;
}

static void
Sel_dealloc(SelObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
#ifdef CFLOOR_CONTRACT
    if (self->weakreflist != NULL)
        PyObject_ClearWeakRefs((PyObject *)self);
    Py_CLEAR(self->dict);
#endif
    if (self->k->close && self->k->close(self) < 0)
        PyErr_Clear();
    clear_keys(self);
    if (self->map != NULL) {
        self->map->sel = NULL;
        Py_CLEAR(self->map);
    }
    PyMem_Free(self->slots);
    if (self->k->free)
        self->k->free(self);
    tp->tp_free((PyObject *)self);
}

static PyObject *
Sel_register(SelObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"fileobj", "events", "data"};
    PyObject *a[3], *fdobj, *key;
    int fd, events;

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
    if (grow((void **)&self->slots, &self->cap, (Py_ssize_t)fd + 1, sizeof(Slot)) < 0) {
        Py_DECREF(fdobj);
        return NULL;
    }
    key = make_key(a[0], fdobj, events, a[2] ? a[2] : Py_None);
    Py_DECREF(fdobj);
    if (key == NULL)
        return NULL;
    if (self->slots[fd].key != NULL) {
        /* registered meanwhile by code run from make_key's allocation (a GC finalizer):
         * pathological; keep the first registration */
        Py_DECREF(key);
        PyErr_Format(PyExc_KeyError, "%R (FD %d) is already registered", a[0], fd);
        return NULL;
    }
    if (self->k->add(self, fd, events) < 0) {
        Py_DECREF(key);
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
    PyObject *key = lookup(self, fileobj, &fd);
    if (key == NULL)
        return NULL;
    self->k->del(self, fd);
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
    Py_INCREF(key); /* the allocation below may run a finalizer that unregisters fd */
    newkey = make_key(PyTuple_GET_ITEM(key, 0), PyTuple_GET_ITEM(key, 1), events, data);
    Py_DECREF(key);
    if (newkey == NULL)
        return NULL;
    old = self->slots[fd].key; /* re-read: the allocation may have run a finalizer */
    if (old == NULL) {
        Py_DECREF(newkey);
        PyErr_Format(PyExc_KeyError, "%R is not registered", a[0]);
        return NULL;
    }
    if (events != self->slots[fd].events && self->k->mod(self, fd, events) < 0) {
        Py_DECREF(newkey);
        return NULL;
    }
    self->slots[fd].key = Py_NewRef(newkey);
    self->slots[fd].events = events;
    Py_DECREF(old);
    return newkey;
}

static PyObject *
Sel_select(SelObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"timeout"};
    const Kernel *k = self->k;
    PyObject *a[1], *list;
    long long timeout_us;
    int n, fd, mask;
    Py_ssize_t pos, j;

    if (parse_args("select", args, nargs, kwnames, names, 0, 1, a) < 0)
        return NULL;
    if ((timeout_us = parse_timeout(a[0])) == -2)
        return NULL;
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "select() is already running on this selector");
        return NULL;
    }
    /* the wait's buffers are ours until we return: busy refuses a concurrent select() from
     * another thread (the GIL is released) or a re-entrant one from a finalizer run by an
     * allocation */
    if (k->prepare(self, 0) < 0)
        return NULL;
    self->busy = 1;
    /* a look that cannot block first, GIL held; only if nothing is ready, the wait that may
     * block, GIL released (the kernel sets up no wait queues for a look) */
    n = k->wait(self, 0);
    if (n == 0 && timeout_us != 0) {
        if (k->prepare(self, 1) < 0) {
            self->busy = 0;
            return NULL;
        }
        Py_BEGIN_ALLOW_THREADS
        n = k->wait(self, timeout_us);
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
    for (pos = 0, j = 0; j < n && (mask = k->next(self, &pos, &fd)) != 0;) {
        PyObject *tup = PyTuple_New(2), *key;
        if (tup == NULL) {
            self->busy = 0;
            Py_DECREF(list);
            return NULL;
        }
        /* read the slot after the allocation (a finalizer run by the GC may unregister) */
        if (fd >= self->cap || (key = self->slots[fd].key) == NULL) {
            Py_DECREF(tup);
            continue;
        }
        PyTuple_SET_ITEM(tup, 0, Py_NewRef(key));
        PyTuple_SET_ITEM(tup, 1, Py_NewRef(ev_int[mask & self->slots[fd].events]));
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
    if (self->k->close && self->k->close(self) < 0)
        return NULL;
    clear_keys(self);
    Py_RETURN_NONE;
}

static PyObject *
Sel_fileno(SelObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromLong(EP(self)->epfd);
}

static PyObject *
Sel_enter(SelObject *self, PyObject *Py_UNUSED(ignored))
{
    return Py_NewRef((PyObject *)self);
}

static PyObject *
Sel_exit(SelObject *self, PyObject *Py_UNUSED(args))
{
#ifdef CFLOOR_CONTRACT
    return PyObject_CallMethodNoArgs((PyObject *)self, str_close);
#else
    return Sel_close(self, NULL);
#endif
}

#define SEL_METHODS                                                                            \
    {"register", (PyCFunction)(void (*)(void))Sel_register, METH_FASTCALL | METH_KEYWORDS,     \
     "register(fileobj, events, data=None) -> SelectorKey"},                                   \
    {"unregister", (PyCFunction)Sel_unregister, METH_O, "unregister(fileobj) -> SelectorKey"}, \
    {"modify", (PyCFunction)(void (*)(void))Sel_modify, METH_FASTCALL | METH_KEYWORDS,         \
     "modify(fileobj, events, data=None) -> SelectorKey"},                                     \
    {"select", (PyCFunction)(void (*)(void))Sel_select, METH_FASTCALL | METH_KEYWORDS,         \
     "select(timeout=None) -> [(key, events)]"},                                               \
    {"get_key", (PyCFunction)Sel_get_key, METH_O, "get_key(fileobj) -> SelectorKey"},          \
    {"get_map", (PyCFunction)Sel_get_map, METH_NOARGS, "get_map() -> mapping fileobj -> key"}, \
    {"close", (PyCFunction)Sel_close, METH_NOARGS, "release the backend, drop the keys"},      \
    {"__enter__", (PyCFunction)Sel_enter, METH_NOARGS, NULL},                                  \
    {"__exit__", (PyCFunction)Sel_exit, METH_VARARGS, NULL}

static PyMethodDef Epoll_methods[] = {
    SEL_METHODS,
    {"fileno", (PyCFunction)Sel_fileno, METH_NOARGS, "the epoll fd"},
    {NULL, NULL, 0, NULL},
};

static PyMethodDef Sel_methods[] = {
    SEL_METHODS,
    {NULL, NULL, 0, NULL},
};

#ifdef CFLOOR_CONTRACT
static PyGetSetDef Sel_getset[] = {
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};
#define SEL_CONTRACT_SLOTS                                                                     \
    .tp_dictoffset = offsetof(SelObject, dict),                                                \
    .tp_weaklistoffset = offsetof(SelObject, weakreflist), .tp_getset = Sel_getset,
#define SEL_FLAGS (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE)
#else
#define SEL_CONTRACT_SLOTS
#define SEL_FLAGS (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC)
#endif

#define SEL_TYPE(var, name, object, methods, doc)                                              \
    static PyTypeObject var = {                                                                \
        PyVarObject_HEAD_INIT(NULL, 0)                                                         \
        .tp_name = FLOOR_NAME "." name,                                                        \
        .tp_doc = doc,                                                                         \
        .tp_basicsize = sizeof(object),                                                        \
        .tp_flags = SEL_FLAGS,                                                                 \
        .tp_new = Sel_new,                                                                     \
        .tp_dealloc = (destructor)Sel_dealloc,                                                 \
        .tp_traverse = (traverseproc)Sel_traverse,                                             \
        .tp_clear = (inquiry)Sel_clear,                                                        \
        .tp_methods = methods,                                                                 \
        SEL_CONTRACT_SLOTS                                                                     \
    }

SEL_TYPE(Epoll_Type, "EpollSelector", EpollObject, Epoll_methods,
         "Minimal epoll selector (the C floor of the rselectors benchmarks).");
SEL_TYPE(Poll_Type, "PollSelector", PollObject, Sel_methods,
         "Minimal poll selector (the C floor of the rselectors benchmarks).");
SEL_TYPE(Select_Type, "SelectSelector", SelectObject, Sel_methods,
         "Minimal select selector (the C floor of the rselectors benchmarks).");

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
    .tp_name = FLOOR_NAME ".SelectorMap",
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
 * epoll_create1, EPOLL_CTL_ADD (EPOLLIN), epoll_wait(..., 1, timeout_ms), close; with fd -1,
 * a selector's life with nothing registered: epoll_create1, close */
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
        if (fd >= 0
            && (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &in) < 0
                || (epoll_wait(epfd, &out, 1, timeout) < 0 && errno != EINTR))) {
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
     "bare_epoll_life(fd, timeout_ms, n): create + ADD + wait + close, n times (fd -1: create + "
     "close)"},
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
    .m_name = FLOOR_NAME,
    .m_doc = "Minimal C reference selectors (epoll, poll, select) for benchmarks.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC
FLOOR_INIT(void)
{
    PyObject *m, *selectors, *kt;
    int i;

    if (str_fileno == NULL && (str_fileno = PyUnicode_InternFromString("fileno")) == NULL)
        return NULL;
#ifdef CFLOOR_CONTRACT
    if (str_close == NULL && (str_close = PyUnicode_InternFromString("close")) == NULL)
        return NULL;
#endif
    if (PyType_Ready(&Epoll_Type) < 0 || PyType_Ready(&Poll_Type) < 0
        || PyType_Ready(&Select_Type) < 0 || PyType_Ready(&Map_Type) < 0)
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
        || PyModule_AddObjectRef(m, "EpollSelector", (PyObject *)&Epoll_Type) < 0
        || PyModule_AddObjectRef(m, "PollSelector", (PyObject *)&Poll_Type) < 0
        || PyModule_AddObjectRef(m, "SelectSelector", (PyObject *)&Select_Type) < 0
        || PyModule_AddObjectRef(m, "DefaultSelector", (PyObject *)&Epoll_Type) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
