
# cannon_session: the module is built by cargo (see config.m4). It depends on the crate's files,
# not on a phony target, so that `sudo make install` after `make` does not run cargo again as
# root (whose PATH and rustup home usually lack it).
CANNON_SOURCES = $(CANNON_CRATE_DIR)/Cargo.toml $(CANNON_CRATE_DIR)/Cargo.lock $(CANNON_CRATE_DIR)/build.rs \
	$(shell find $(CANNON_CRATE_DIR)/src -name '*.rs' 2>/dev/null)

$(phplibdir)/cannon_session.so: $(CANNON_SOURCES)
	@echo "cargo build --release for $(CANNON_PHP_BINARY) ($(CANNON_PHP_CONFIG)); the first build takes a few minutes"
	cd "$(CANNON_CRATE_DIR)" && \
	  PHP="$(CANNON_PHP_BINARY)" PHP_CONFIG="$(CANNON_PHP_CONFIG)" \
	  CARGO_TARGET_DIR="$(CANNON_CARGO_TARGET_DIR)" \
	  "$(CARGO)" build --release --locked --lib
	$(mkinstalldirs) $(phplibdir)
	cp "$(CANNON_CARGO_TARGET_DIR)/release/libcannon_session.so" $@

cannon-session-clean:
	rm -rf "$(CANNON_CARGO_TARGET_DIR)"

.PHONY: cannon-session-clean
