/* A lock-free single-producer / single-consumer ring buffer of int16 audio samples.
 *
 * Layout (in the style of CPython's Modules/_queuemodule.c): a plain C ring (`ring_t`, the
 * `ring_*` functions) that knows nothing about Python, and a thin Python type on top that turns
 * buffer-protocol objects into pointers and lengths and checks every argument.
 *
 * The ring never blocks and never makes the producer wait: when it is full the producer
 * overwrites the oldest samples. The producer never touches the consumer's position either.
 * Instead every position is a monotonically increasing 64-bit sample count (it would take
 * millions of years at 16 kHz to wrap), so the consumer can tell when it has been lapped:
 *
 *   written   total samples the producer has published (stored with release, loaded with acquire)
 *   claimed   end of the write in progress; stored before the producer touches the data
 *   consumed  the consumer's next sample
 *
 * A sample with index i lives at data[i % capacity] and is valid while i >= written - capacity.
 * A reader copies what it wants and then (acquire fence) looks at `claimed`: every copied sample
 * with index < claimed - capacity may have been overwritten while it was copying, so it is thrown
 * away and counted as dropped (the seqlock pattern; see Boehm, "Can seqlocks get along with
 * programming language memory models?", 2012). Nothing is ever torn in what a read returns.
 *
 * Whatever the callers do (even two producers at once, which the contract forbids and the Python
 * type detects), every index is reduced modulo the capacity and every copy is at most the
 * capacity long, so memory outside the buffer is never touched.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * The plain C ring.
 */

typedef struct {
    int16_t *data;
    uint64_t capacity;
    _Atomic uint64_t written;  /* producer: samples published */
    _Atomic uint64_t claimed;  /* producer: end of the write in progress (>= written) */
    _Atomic uint64_t consumed; /* consumer: next sample to read */
    _Atomic uint64_t floor;    /* consumer: clear() hides samples below this from peek */
    _Atomic uint64_t dropped;  /* consumer: samples overwritten before they were read */
} ring_t;

static uint64_t
min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* Callers' buffers are handled as bytes: a bytes object or memoryview slice holding int16
 * samples need not be 2-byte aligned. */
#define SAMPLE 2

/* Copy n (<= capacity) samples starting at absolute index `start` out of the ring. */
static void
ring_copy_out(const ring_t *r, uint64_t start, unsigned char *dst, uint64_t n)
{
    uint64_t pos = start % r->capacity;
    uint64_t first = min_u64(n, r->capacity - pos);
    memcpy(dst, r->data + pos, (size_t)first * SAMPLE);
    memcpy(dst + first * SAMPLE, r->data, (size_t)(n - first) * SAMPLE);
}

/* Copy n (<= capacity) samples into the ring at absolute index `start`. */
static void
ring_copy_in(ring_t *r, uint64_t start, const unsigned char *src, uint64_t n)
{
    uint64_t pos = start % r->capacity;
    uint64_t first = min_u64(n, r->capacity - pos);
    memcpy(r->data + pos, src, (size_t)first * SAMPLE);
    memcpy(r->data, src + first * SAMPLE, (size_t)(n - first) * SAMPLE);
}

/* After copying samples [start, start + n) out: how many at the front may have been overwritten
 * by a write that was in flight meanwhile. */
static uint64_t
ring_overwritten_prefix(const ring_t *r, uint64_t start, uint64_t n)
{
    atomic_thread_fence(memory_order_acquire);
    uint64_t claimed = atomic_load_explicit(&r->claimed, memory_order_relaxed);
    if (claimed - start <= r->capacity) {
        return 0;
    }
    return min_u64(claimed - r->capacity - start, n);
}

/* Producer only. Appends n samples, overwriting the oldest when full; never blocks. */
static void
ring_write(ring_t *r, const void *samples, uint64_t n)
{
    const unsigned char *src = samples;
    uint64_t end = atomic_load_explicit(&r->written, memory_order_relaxed) + n;
    if (n > r->capacity) {
        /* Only the newest `capacity` samples can survive; the rest count as dropped when read. */
        src += (n - r->capacity) * SAMPLE;
        n = r->capacity;
    }
    atomic_store_explicit(&r->claimed, end, memory_order_relaxed);
    /* Orders the claim before the data stores below (pairs with the readers' acquire fence). */
    atomic_thread_fence(memory_order_release);
    ring_copy_in(r, end - n, src, n);
    atomic_store_explicit(&r->written, end, memory_order_release);
}

/* Consumer only. Moves up to n (<= capacity) of the oldest unread samples into dst; returns how
 * many. Samples the producer overwrote before they were read are skipped and counted. */
static uint64_t
ring_read(ring_t *r, void *out, uint64_t n)
{
    unsigned char *dst = out;
    uint64_t written = atomic_load_explicit(&r->written, memory_order_acquire);
    uint64_t start = atomic_load_explicit(&r->consumed, memory_order_relaxed);
    uint64_t lost = 0;
    if (written - start > r->capacity) { /* lapped */
        lost = written - start - r->capacity;
        start = written - r->capacity;
    }
    uint64_t got = min_u64(n, written - start);
    ring_copy_out(r, start, dst, got);
    uint64_t bad = ring_overwritten_prefix(r, start, got);
    if (bad) {
        memmove(dst, dst + bad * SAMPLE, (size_t)(got - bad) * SAMPLE);
        got -= bad;
        start += bad;
        lost += bad;
    }
    if (lost) {
        atomic_fetch_add_explicit(&r->dropped, lost, memory_order_relaxed);
    }
    atomic_store_explicit(&r->consumed, start + got, memory_order_release);
    return got;
}

/* Any thread. Copies up to n (<= capacity) of the newest samples (read or not, but none from
 * before the last clear()) into dst without consuming anything; returns how many. */
static uint64_t
ring_peek_latest(const ring_t *r, void *out, uint64_t n)
{
    unsigned char *dst = out;
    /* floor first: clear() set it from a value of `written`, so written >= floor below. */
    uint64_t floor = atomic_load_explicit(&r->floor, memory_order_acquire);
    uint64_t written = atomic_load_explicit(&r->written, memory_order_acquire);
    uint64_t got = min_u64(min_u64(n, written - floor), r->capacity);
    uint64_t start = written - got;
    ring_copy_out(r, start, dst, got);
    uint64_t bad = ring_overwritten_prefix(r, start, got);
    if (bad) {
        memmove(dst, dst + bad * SAMPLE, (size_t)(got - bad) * SAMPLE);
        got -= bad;
    }
    return got;
}

/* Consumer only. Discards everything unread; peek no longer sees samples written before.
 * Samples already overwritten before the clear still count as dropped (the counter never goes down). */
static void
ring_clear(ring_t *r)
{
    uint64_t written = atomic_load_explicit(&r->written, memory_order_acquire);
    uint64_t behind = written - atomic_load_explicit(&r->consumed, memory_order_relaxed);
    if (behind > r->capacity) {
        atomic_fetch_add_explicit(&r->dropped, behind - r->capacity, memory_order_relaxed);
    }
    atomic_store_explicit(&r->floor, written, memory_order_release);
    atomic_store_explicit(&r->consumed, written, memory_order_release);
}

/* Any thread: samples a read would return now (at most the capacity). */
static uint64_t
ring_available(const ring_t *r)
{
    /* consumed first: the consumer stored it from a value of `written`, so written >= consumed. */
    uint64_t consumed = atomic_load_explicit(&r->consumed, memory_order_acquire);
    uint64_t written = atomic_load_explicit(&r->written, memory_order_acquire);
    return min_u64(written - consumed, r->capacity);
}

/* Any thread: samples lost so far, including those already overwritten but not yet noticed by the
 * consumer. Exact when the consumer is idle; may be off by one read's worth while it runs. */
static uint64_t
ring_dropped(const ring_t *r)
{
    uint64_t dropped = atomic_load_explicit(&r->dropped, memory_order_acquire);
    uint64_t consumed = atomic_load_explicit(&r->consumed, memory_order_acquire);
    uint64_t written = atomic_load_explicit(&r->written, memory_order_acquire);
    uint64_t behind = written - consumed;
    return dropped + (behind > r->capacity ? behind - r->capacity : 0);
}

/* ---------------------------------------------------------------------------------------------
 * The Python type.
 */

/* Copies at least this many samples (64 KiB) are done with the GIL released. A shorter copy
 * takes well under a microsecond; dropping the GIL for it would cost more than the copy and
 * could leave the PortAudio callback thread waiting up to a switch interval (5 ms) to get the
 * GIL back from another thread. */
#ifndef GIL_RELEASE_MIN_SAMPLES
#define GIL_RELEASE_MIN_SAMPLES 32768
#endif

typedef struct {
    PyObject_HEAD
    ring_t ring;
    atomic_flag producer_busy; /* detects two producers (or two consumers) at once */
    atomic_flag consumer_busy;
} RingBufferObject;

static PyTypeObject RingBuffer_Type;

/* numpy.empty and numpy.dtype("int16"), fetched on first use. */
static PyObject *numpy_empty = NULL;
static PyObject *int16_dtype = NULL;

static int
is_int16_format(const char *fmt)
{
    if (fmt == NULL) {
        return 0; /* PyBUF_FORMAT was requested, so NULL means unsigned bytes; handled by caller */
    }
    if (fmt[0] == '@' || fmt[0] == '=') {
        fmt++;
    }
#if PY_LITTLE_ENDIAN
    else if (fmt[0] == '<') {
        fmt++;
    }
#else
    else if (fmt[0] == '>' || fmt[0] == '!') {
        fmt++;
    }
#endif
    return strcmp(fmt, "h") == 0;
}

static int
is_byte_format(const char *fmt)
{
    return fmt == NULL || strcmp(fmt, "B") == 0 || strcmp(fmt, "b") == 0 || strcmp(fmt, "c") == 0;
}

/* Get a C-contiguous, 1-D view of int16 samples (or of raw bytes holding int16 samples, as
 * PortAudio delivers them). On error sets a clear TypeError/ValueError and returns -1. */
static int
get_samples(PyObject *obj, Py_buffer *view, int writable, const char *what, Py_ssize_t *nsamples)
{
    if (!PyObject_CheckBuffer(obj)) {
        PyErr_Format(PyExc_TypeError,
                     "%s must be a numpy int16 array or bytes of int16 samples, not %.100s",
                     what, Py_TYPE(obj)->tp_name);
        return -1;
    }
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        if (PyErr_ExceptionMatches(PyExc_BufferError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError,
                         "%s must be C-contiguous (use numpy.ascontiguousarray(x, dtype=numpy.int16))",
                         what);
        }
        return -1;
    }
    if (writable && view->readonly) {
        PyErr_Format(PyExc_ValueError, "%s is read-only; pass a writable int16 array", what);
        goto fail;
    }
    if (view->ndim > 1) {
        PyErr_Format(PyExc_ValueError, "%s must be 1-D (mono samples); it has %d dimensions",
                     what, view->ndim);
        goto fail;
    }
    if (is_int16_format(view->format) && view->itemsize == 2) {
        *nsamples = view->len / 2;
        return 0;
    }
    if (is_byte_format(view->format) && view->itemsize == 1) {
        if (view->len % 2) {
            PyErr_Format(PyExc_ValueError,
                         "%s holds %zd bytes, an odd number, so it cannot be int16 samples",
                         what, view->len);
            goto fail;
        }
        *nsamples = view->len / 2;
        return 0;
    }
    PyErr_Format(PyExc_TypeError,
                 "%s must hold native int16 samples (numpy dtype int16, buffer format 'h'); "
                 "got format '%.20s' with %zd-byte items",
                 what, view->format ? view->format : "B", view->itemsize);
fail:
    PyBuffer_Release(view);
    return -1;
}

/* A positive sample count no larger than the capacity, or -1 with ValueError/TypeError set. */
static Py_ssize_t
get_count(RingBufferObject *self, PyObject *arg, const char *what)
{
    if (!PyLong_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int, not %.100s", what, Py_TYPE(arg)->tp_name);
        return -1;
    }
    int overflow = 0;
    long long n = PyLong_AsLongLongAndOverflow(arg, &overflow);
    if (n == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (overflow < 0 || (overflow == 0 && n <= 0)) {
        PyErr_Format(PyExc_ValueError, "%s must be at least 1, got %R", what, arg);
        return -1;
    }
    if (overflow > 0 || (unsigned long long)n > self->ring.capacity) {
        PyErr_Format(PyExc_ValueError, "%s is %R but the ring only holds %llu samples",
                     what, arg, (unsigned long long)self->ring.capacity);
        return -1;
    }
    return (Py_ssize_t)n;
}

static int
enter(atomic_flag *flag, const char *method, const char *role)
{
    if (atomic_flag_test_and_set_explicit(flag, memory_order_acquire)) {
        PyErr_Format(PyExc_RuntimeError,
                     "RingBuffer.%s() was called from two threads at once; the ring has one %s",
                     method, role);
        return -1;
    }
    return 0;
}

static void
leave(atomic_flag *flag)
{
    atomic_flag_clear_explicit(flag, memory_order_release);
}

static PyObject *
RingBuffer_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"capacity", NULL};
    PyObject *cap_obj;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O:RingBuffer", kwlist, &cap_obj)) {
        return NULL;
    }
    if (!PyLong_Check(cap_obj)) {
        PyErr_Format(PyExc_TypeError, "capacity must be an int (samples), not %.100s",
                     Py_TYPE(cap_obj)->tp_name);
        return NULL;
    }
    int overflow = 0;
    long long capacity = PyLong_AsLongLongAndOverflow(cap_obj, &overflow);
    if (capacity == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (overflow < 0 || (overflow == 0 && capacity <= 0)) {
        PyErr_Format(PyExc_ValueError, "capacity must be at least 1 sample, got %R", cap_obj);
        return NULL;
    }
    if (overflow > 0 || (unsigned long long)capacity > (unsigned long long)(PY_SSIZE_T_MAX / 4)) {
        PyErr_Format(PyExc_ValueError, "capacity %R is too large", cap_obj);
        return NULL;
    }
    RingBufferObject *self = (RingBufferObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->ring.data = PyMem_RawMalloc((size_t)capacity * sizeof(int16_t));
    if (self->ring.data == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    self->ring.capacity = (uint64_t)capacity;
    atomic_init(&self->ring.written, 0);
    atomic_init(&self->ring.claimed, 0);
    atomic_init(&self->ring.consumed, 0);
    atomic_init(&self->ring.floor, 0);
    atomic_init(&self->ring.dropped, 0);
    atomic_flag_clear(&self->producer_busy);
    atomic_flag_clear(&self->consumer_busy);
    return (PyObject *)self;
}

static void
RingBuffer_dealloc(PyObject *op)
{
    RingBufferObject *self = (RingBufferObject *)op;
    PyMem_RawFree(self->ring.data);
    Py_TYPE(op)->tp_free(op);
}

PyDoc_STRVAR(write_doc,
"write($self, data, /)\n--\n\n"
"Producer only. Append int16 samples: a 1-D C-contiguous numpy int16 array, or bytes /\n"
"bytearray / memoryview holding native-endian int16 samples (what PortAudio delivers; the\n"
"length must be even). When the ring is full the oldest samples are overwritten; this never\n"
"blocks. Returns the number of samples written.");

static PyObject *
RingBuffer_write(PyObject *op, PyObject *data)
{
    RingBufferObject *self = (RingBufferObject *)op;
    Py_buffer view;
    Py_ssize_t n;
    if (get_samples(data, &view, 0, "data", &n) < 0) {
        return NULL;
    }
    if (enter(&self->producer_busy, "write", "producer") < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    if (n >= GIL_RELEASE_MIN_SAMPLES) {
        Py_BEGIN_ALLOW_THREADS
        ring_write(&self->ring, view.buf, (uint64_t)n);
        Py_END_ALLOW_THREADS
    }
    else if (n > 0) {
        ring_write(&self->ring, view.buf, (uint64_t)n);
    }
    leave(&self->producer_busy);
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(n);
}

/* Read or peek into a caller's buffer of `n` samples. */
static Py_ssize_t
fill(RingBufferObject *self, void *dst, Py_ssize_t n, int peek)
{
    uint64_t got;
    if (n >= GIL_RELEASE_MIN_SAMPLES) {
        Py_BEGIN_ALLOW_THREADS
        got = peek ? ring_peek_latest(&self->ring, dst, (uint64_t)n) : ring_read(&self->ring, dst, (uint64_t)n);
        Py_END_ALLOW_THREADS
    }
    else {
        got = peek ? ring_peek_latest(&self->ring, dst, (uint64_t)n) : ring_read(&self->ring, dst, (uint64_t)n);
    }
    return (Py_ssize_t)got;
}

static Py_ssize_t
fill_out(RingBufferObject *self, PyObject *out, int peek, const char *method)
{
    Py_buffer view;
    Py_ssize_t n;
    if (get_samples(out, &view, 1, "out", &n) < 0) {
        return -1;
    }
    if (n == 0) {
        PyErr_Format(PyExc_ValueError, "out has room for no samples; pass a non-empty int16 array");
        PyBuffer_Release(&view);
        return -1;
    }
    if ((uint64_t)n > self->ring.capacity) {
        PyErr_Format(PyExc_ValueError, "out has room for %zd samples but the ring only holds %llu",
                     n, (unsigned long long)self->ring.capacity);
        PyBuffer_Release(&view);
        return -1;
    }
    if (!peek && enter(&self->consumer_busy, method, "consumer") < 0) {
        PyBuffer_Release(&view);
        return -1;
    }
    Py_ssize_t got = fill(self, view.buf, n, peek);
    if (!peek) {
        leave(&self->consumer_busy);
    }
    PyBuffer_Release(&view);
    return got;
}

static PyObject *
new_array(RingBufferObject *self, PyObject *count, int peek, const char *method)
{
    Py_ssize_t n = get_count(self, count, "n");
    if (n < 0) {
        return NULL;
    }
    if (numpy_empty == NULL) {
        PyObject *numpy = PyImport_ImportModule("numpy");
        if (numpy == NULL) {
            return NULL;
        }
        PyObject *empty = PyObject_GetAttrString(numpy, "empty");
        PyObject *dtype = PyObject_CallMethod(numpy, "dtype", "s", "int16");
        Py_DECREF(numpy);
        if (empty == NULL || dtype == NULL) {
            Py_XDECREF(empty);
            Py_XDECREF(dtype);
            return NULL;
        }
        numpy_empty = empty;
        int16_dtype = dtype;
    }
    PyObject *arr = PyObject_CallFunction(numpy_empty, "nO", n, int16_dtype);
    if (arr == NULL) {
        return NULL;
    }
    Py_ssize_t got = fill_out(self, arr, peek, method);
    if (got < 0) {
        Py_DECREF(arr);
        return NULL;
    }
    if (got == n) {
        return arr;
    }
    PyObject *part = PySequence_GetSlice(arr, 0, got);
    Py_DECREF(arr);
    return part;
}

PyDoc_STRVAR(read_doc,
"read($self, n, /)\n--\n\n"
"Consumer only. Remove and return up to n of the oldest unread samples as a new int16 array\n"
"(shorter than n, possibly empty, when fewer are available; never blocks). 1 <= n <= capacity.");

static PyObject *
RingBuffer_read(PyObject *op, PyObject *n)
{
    return new_array((RingBufferObject *)op, n, 0, "read");
}

PyDoc_STRVAR(read_into_doc,
"read_into($self, out, /)\n--\n\n"
"Consumer only. Move up to len(out) of the oldest unread samples into `out` (a writable 1-D\n"
"C-contiguous int16 array, 1 <= len(out) <= capacity) without allocating; returns how many.\n"
"Check the count: it can be less than `available` said if the producer overwrote samples\n"
"meanwhile. The samples of one read are always consecutive; samples lost to overflow are\n"
"skipped (and counted in `dropped`) before a read, never inside one.");

static PyObject *
RingBuffer_read_into(PyObject *op, PyObject *out)
{
    Py_ssize_t got = fill_out((RingBufferObject *)op, out, 0, "read_into");
    return got < 0 ? NULL : PyLong_FromSsize_t(got);
}

PyDoc_STRVAR(peek_latest_doc,
"peek_latest($self, n, /)\n--\n\n"
"Any thread. Return a copy of up to n of the newest samples, read or not (the look-back for\n"
"pre-roll), without consuming anything. Fewer than n when fewer were written since creation or\n"
"the last clear(). 1 <= n <= capacity.");

static PyObject *
RingBuffer_peek_latest(PyObject *op, PyObject *n)
{
    return new_array((RingBufferObject *)op, n, 1, "peek_latest");
}

PyDoc_STRVAR(peek_latest_into_doc,
"peek_latest_into($self, out, /)\n--\n\n"
"Like peek_latest(len(out)) but copies into `out` (writable int16, 1 <= len(out) <= capacity).\n"
"The newest samples are at the start of `out`; returns how many were copied.");

static PyObject *
RingBuffer_peek_latest_into(PyObject *op, PyObject *out)
{
    Py_ssize_t got = fill_out((RingBufferObject *)op, out, 1, "peek_latest_into");
    return got < 0 ? NULL : PyLong_FromSsize_t(got);
}

PyDoc_STRVAR(clear_doc,
"clear($self, /)\n--\n\n"
"Consumer only. Discard every unread sample (those already overwritten stay counted as dropped);\n"
"peek_latest() no longer returns samples written before the call.");

static PyObject *
RingBuffer_clear(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    RingBufferObject *self = (RingBufferObject *)op;
    if (enter(&self->consumer_busy, "clear", "consumer") < 0) {
        return NULL;
    }
    ring_clear(&self->ring);
    leave(&self->consumer_busy);
    Py_RETURN_NONE;
}

static PyObject *
RingBuffer_get_capacity(PyObject *op, void *Py_UNUSED(closure))
{
    return PyLong_FromUnsignedLongLong(((RingBufferObject *)op)->ring.capacity);
}

static PyObject *
RingBuffer_get_available(PyObject *op, void *Py_UNUSED(closure))
{
    return PyLong_FromUnsignedLongLong(ring_available(&((RingBufferObject *)op)->ring));
}

static PyObject *
RingBuffer_get_dropped(PyObject *op, void *Py_UNUSED(closure))
{
    return PyLong_FromUnsignedLongLong(ring_dropped(&((RingBufferObject *)op)->ring));
}

static PyObject *
RingBuffer_get_total_written(PyObject *op, void *Py_UNUSED(closure))
{
    ring_t *r = &((RingBufferObject *)op)->ring;
    return PyLong_FromUnsignedLongLong(atomic_load_explicit(&r->written, memory_order_acquire));
}

static PyObject *
RingBuffer_repr(PyObject *op)
{
    ring_t *r = &((RingBufferObject *)op)->ring;
    return PyUnicode_FromFormat("<RingBuffer capacity=%llu available=%llu dropped=%llu>",
                                (unsigned long long)r->capacity,
                                (unsigned long long)ring_available(r),
                                (unsigned long long)ring_dropped(r));
}

static PyMethodDef RingBuffer_methods[] = {
    {"write", RingBuffer_write, METH_O, write_doc},
    {"read", RingBuffer_read, METH_O, read_doc},
    {"read_into", RingBuffer_read_into, METH_O, read_into_doc},
    {"peek_latest", RingBuffer_peek_latest, METH_O, peek_latest_doc},
    {"peek_latest_into", RingBuffer_peek_latest_into, METH_O, peek_latest_into_doc},
    {"clear", RingBuffer_clear, METH_NOARGS, clear_doc},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef RingBuffer_getset[] = {
    {"capacity", RingBuffer_get_capacity, NULL, "Samples the ring holds.", NULL},
    {"available", RingBuffer_get_available, NULL, "Unread samples a read would return now.", NULL},
    {"dropped", RingBuffer_get_dropped, NULL,
     "Samples overwritten before the consumer read them (since creation).", NULL},
    {"total_written", RingBuffer_get_total_written, NULL, "Samples written since creation.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(RingBuffer_doc,
"RingBuffer(capacity)\n"
"--\n\n"
"A fixed-size, lock-free ring of `capacity` int16 samples for one producer and one consumer.\n\n"
"Threading contract:\n"
"- exactly one producer thread calls write() (e.g. the PortAudio callback);\n"
"- exactly one consumer thread calls read(), read_into() and clear();\n"
"- any thread may call peek_latest(), peek_latest_into() and read the properties.\n"
"Calling write() (or the consumer methods) from two threads at the same time raises\n"
"RuntimeError. Nothing blocks: when the ring is full, write() overwrites the oldest samples;\n"
"the consumer then skips what it missed and `dropped` counts it. A read never returns a sample\n"
"that was being overwritten while it was copied. Copies of 32768 samples or more release the GIL.");

static PyTypeObject RingBuffer_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "edge_agent.audio._ringbuf.RingBuffer",
    .tp_basicsize = sizeof(RingBufferObject),
    .tp_dealloc = RingBuffer_dealloc,
    .tp_repr = RingBuffer_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = RingBuffer_doc,
    .tp_methods = RingBuffer_methods,
    .tp_getset = RingBuffer_getset,
    .tp_new = RingBuffer_new,
};

PyDoc_STRVAR(module_doc,
"Lock-free single-producer / single-consumer ring buffer of int16 audio samples.\n\n"
"One producer thread writes (overwriting the oldest samples when full, never blocking), one\n"
"consumer thread reads; any thread may peek at the newest samples. See RingBuffer.");

static struct PyModuleDef ringbuf_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_ringbuf",
    .m_doc = module_doc,
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__ringbuf(void)
{
    if (PyType_Ready(&RingBuffer_Type) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&ringbuf_module);
    if (m == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(m, "RingBuffer", (PyObject *)&RingBuffer_Type) < 0
        || PyModule_AddIntConstant(m, "GIL_RELEASE_MIN_SAMPLES", GIL_RELEASE_MIN_SAMPLES) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
