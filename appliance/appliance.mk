# appliance.mk — `make appliance` (included by the top-level Makefile): the bootable truce
# appliance (appliance/build.sh), cached by its inputs; build/appliance links to the result.
.PHONY: appliance
appliance: build/truce build/truced build/trucectl
	@d=$$(appliance/build.sh) && ln -sfn "$$d" build/appliance && \
	    echo "build/appliance -> $$d" && sed 's/^/  /' build/appliance/sizes.txt

# Size and boot to "manager ready" of the appliance in the lab (N boots) -> bench/RESULTS.md.
.PHONY: bench-appliance
bench-appliance: build/truce build/truced build/trucectl
	@bench/appliance.sh $(N)
