/* vmm_floor.c — bench/boot.sh's floor for a VMM's share of a boot: only what the kernel charges
 * any VMM that boots Linux directly, with none of a VMM's own work. Linked like truce (libc only,
 * dynamic PIE, -z now). Without arguments it prints its main()'s CLOCK_MONOTONIC and exits (the
 * exec floor). With MEM_MIB KERNEL INITRD it also creates a VM, maps MEM_MIB of guest RAM (advised
 * MADV_HUGEPAGE, as truce's default), registers it, creates the in-kernel irqchip, reads the
 * kernel's loadable bytes (an ELF's PT_LOAD segments, a bzImage's protected-mode part) and the
 * initrd into it, creates one vCPU, prints the clock after each step and exits: the VM's
 * destruction is the kernel's work at exit, which labrun times as the process's exit. */
#include <elf.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

/* Read N bytes at file offset OFF of FD into DST; 0 or -1. */
static int pread_all(int fd, uint8_t *dst, size_t n, off_t off)
{
    while (n > 0) {
        ssize_t r = pread(fd, dst, n, off);
        if (r <= 0)
            return -1;
        dst += r, n -= (size_t)r, off += r;
    }
    return 0;
}

/* Put KERNEL's loadable bytes into RAM of SIZE: the PT_LOAD segments of an ELF at their physical
 * addresses, or a bzImage's protected-mode part at 1 MiB. Returns the bytes read. */
static size_t load_kernel(const char *path, uint8_t *ram, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    Elf64_Ehdr eh;
    size_t total = 0;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || pread_all(fd, (uint8_t *)&eh, sizeof(eh), 0) < 0)
        die(path);
    if (memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0) {
        for (int i = 0; i < eh.e_phnum; i++) {
            Elf64_Phdr ph;
            if (pread_all(fd, (uint8_t *)&ph, sizeof(ph), (off_t)(eh.e_phoff + i * sizeof(ph))) < 0)
                die(path);
            if (ph.p_type != PT_LOAD || ph.p_paddr + ph.p_filesz > size)
                continue;
            if (pread_all(fd, ram + ph.p_paddr, ph.p_filesz, (off_t)ph.p_offset) < 0)
                die(path);
            total += ph.p_filesz;
        }
    } else {
        uint8_t setup_sects = 0;
        if (pread_all(fd, &setup_sects, 1, 0x1f1) < 0)
            die(path);
        off_t pm = ((off_t)(setup_sects ? setup_sects : 4) + 1) * 512;
        total = (size_t)(st.st_size - pm);
        if ((1 << 20) + total > size || pread_all(fd, ram + (1 << 20), total, pm) < 0)
            die(path);
    }
    close(fd);
    return total;
}

/* Put INITRD at the top of RAM of SIZE, page-aligned down; returns its size. */
static size_t load_initrd(const char *path, uint8_t *ram, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || (size_t)st.st_size > size / 2)
        die(path);
    size_t at = (size - (size_t)st.st_size) & ~(size_t)4095;
    if (pread_all(fd, ram + at, (size_t)st.st_size, 0) < 0)
        die(path);
    close(fd);
    return (size_t)st.st_size;
}

int main(int argc, char **argv)
{
    long long t_main = now_ns();
    if (argc < 4) {
        printf("EXEC-FLOOR main_ns=%lld\n", t_main);
        return 0;
    }
    size_t size = (size_t)strtoul(argv[1], NULL, 10) << 20;
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    int vm = kvm < 0 ? -1 : ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0)
        die("KVM_CREATE_VM");
    long long t_kvm = now_ns();
    uint8_t *ram = mmap(NULL, size, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ram == MAP_FAILED)
        die("mmap");
    madvise(ram, size, MADV_HUGEPAGE);
    struct kvm_userspace_memory_region r = {.memory_size = size, .userspace_addr = (uintptr_t)ram};
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r) < 0)
        die("KVM_SET_USER_MEMORY_REGION");
    long long t_ram = now_ns();
    if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0)
        die("KVM_CREATE_IRQCHIP");
    long long t_irqchip = now_ns();
    size_t bytes = load_kernel(argv[2], ram, size) + load_initrd(argv[3], ram, size);
    long long t_load = now_ns();
    if (ioctl(vm, KVM_CREATE_VCPU, 0) < 0)
        die("KVM_CREATE_VCPU");
    long long t_vcpu = now_ns();
    printf("VMM-FLOOR main_ns=%lld kvm_ns=%lld ram_ns=%lld irqchip_ns=%lld load_ns=%lld "
           "vcpu_ns=%lld bytes=%zu end_ns=%lld\n",
           t_main, t_kvm, t_ram, t_irqchip, t_load, t_vcpu, bytes, now_ns());
    return 0;
}
