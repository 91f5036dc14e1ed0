/* Placeholder: replaced by the real ring buffer. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "_ringbuf", NULL, -1, NULL};
PyMODINIT_FUNC PyInit__ringbuf(void) { return PyModule_Create(&mod); }
