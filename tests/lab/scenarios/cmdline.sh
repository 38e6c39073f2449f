# cmdline — the kernel command line arrives intact: spaces, double and single quotes, symbols and
# a 1000-character token, compared inside the guest with the string the scenario put in the initrd.
# lab: vmm=truce,qemu timeout=150 needs=boot-bzimage
long=$(for i in $(seq 16); do echo "$i$$" | sha256sum | cut -c1-64; done | tr -d '\n' | cut -c1-1000)
want="lab.text=\"quoted  value, two spaces\" lab.sq=it's lab.sym=a%b&c|d<e>f;g*h?[i] lab.long=$long"
printf '%s' "$want" >expected
guest_boot -f expected:/lab/cmdline.expected -a "lab.check=cmdline $want"
expect_init
expect_guest cmdline
expect_end poweroff
