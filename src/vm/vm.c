/* vm.c — the VM's run state as the vCPU and device threads see it: stop requests and kicks. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "vm/vm.h"

bool vm_stopping(struct vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    bool s = vm->state == VM_STOPPING;
    pthread_mutex_unlock(&vm->lock);
    return s;
}

void vm_kick_all(struct vm *vm)
{
    for (unsigned i = 0; vm->vcpus && i < vm->ncpus; i++)
        vcpu_kick(&vm->vcpus[i]);
}

void vm_request_stop(struct vm *vm, int status, const char *fmt, ...)
{
    pthread_mutex_lock(&vm->lock);
    if (vm->state == VM_STOPPING) {
        pthread_mutex_unlock(&vm->lock);
        return;
    }
    vm->state = VM_STOPPING;
    vm->exit_status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(vm->exit_reason, sizeof(vm->exit_reason), fmt, ap);
    va_end(ap);
    pthread_cond_broadcast(&vm->cond);
    pthread_mutex_unlock(&vm->lock);
    if (vm->stop_pipe[1] >= 0 && write(vm->stop_pipe[1], "x", 1) < 0) {
        /* the pipe already holds a byte */
    }
    vm_kick_all(vm);
}
