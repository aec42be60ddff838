//! keel build: `zig build` (keel, keel-bench, unit tests, microbenchmarks),
//! `zig build run`, `zig build test`, `zig build bench`, `zig build asan`, `zig build fuzz`.
//! Sources are found by walking the tree, so adding a .c file needs no edit here:
//!   src/{core,proto,app}/*.c   -> libkeel (src/app/main.c -> the keel binary)
//!   bench/keel-bench/*.c       -> keel-bench
//!   tests/unit/**/test_*.c     -> one test binary each (zig-out/tests/)
//!   bench/micro/*.c            -> one microbenchmark each (zig-out/bench/)
//!   fuzz/*.c                   -> one libFuzzer driver each (clang, zig-out/fuzz/)
//! The ASan+UBSan build and the fuzz drivers use a system clang (-Dclang, default
//! Debian's clang-14) because zig cc ships no sanitizer or libFuzzer runtimes and traps on
//! UB without a report; they land in zig-out/asan/ and zig-out/fuzz/.
//! Options: -Doptimize, -Dclang, -Dllvm-ar, -Dpg-include (see README.md, Build).
const std = @import("std");

const cflags = [_][]const u8{
    "-std=c11",               "-D_GNU_SOURCE",     "-Wall",              "-Wextra",
    "-Werror",                "-Wmissing-prototypes", "-Wstrict-prototypes", "-Wvla",
    "-Wshadow",               "-Wno-unused-parameter", "-Wpointer-arith", "-Wformat=2",
    "-fno-strict-aliasing",
};
// libcrypto (OpenSSL 3) verifies JWT signatures and hashes; libpq already maps it into the
// process. libcurl fetches a JWKS URL on keel's key-refresh thread.
const syslibs = [_][]const u8{ "uring", "pq", "crypto", "curl", "deflate", "mimalloc", "pthread", "m" };

fn listC(b: *std.Build, dir: []const u8, recursive: bool, prefix: ?[]const u8) [][]const u8 {
    var out = std.ArrayList([]const u8).init(b.allocator);
    var d = b.build_root.handle.openDir(dir, .{ .iterate = true }) catch return out.items;
    defer d.close();
    var walker = d.walk(b.allocator) catch @panic("walk");
    defer walker.deinit();
    while (walker.next() catch @panic("walk")) |e| {
        if (e.kind != .file or !std.mem.endsWith(u8, e.basename, ".c")) continue;
        if (!recursive and std.mem.indexOfScalar(u8, e.path, '/') != null) continue;
        if (prefix) |p| if (!std.mem.startsWith(u8, e.basename, p)) continue;
        out.append(b.fmt("{s}/{s}", .{ dir, e.path })) catch @panic("oom");
    }
    std.mem.sort([]const u8, out.items, {}, struct {
        fn lt(_: void, a: []const u8, c: []const u8) bool {
            return std.mem.lessThan(u8, a, c);
        }
    }.lt);
    return out.items;
}

fn stem(path: []const u8) []const u8 {
    const base = std.fs.path.basename(path);
    return base[0 .. base.len - 2];
}

fn linkAll(c: *std.Build.Step.Compile) void {
    c.linkLibC();
    for (syslibs) |l| c.linkSystemLibrary(l);
}

/// The system clang and archiver that build the sanitized variants, and the libpq headers.
const Toolchain = struct {
    clang: []const u8,
    llvm_ar: []const u8,
    pg_include: []const u8,
};

/// Compiles srcs with the system clang (cflags plus extra) and archives the objects as
/// `name`. An archive, not loose objects: a program that #includes a .c under test must win
/// over that file's object, which then is never pulled in.
fn clangArchive(b: *std.Build, tc: Toolchain, srcs: []const []const u8, extra: []const []const u8, name: []const u8) std.Build.LazyPath {
    const ar = b.addSystemCommand(&.{ tc.llvm_ar, "rcs" });
    const archive = ar.addOutputFileArg(b.fmt("lib{s}.a", .{name}));
    for (srcs) |src| {
        // Named for the whole path: src/core/x.c and src/app/x.c must not share a member name.
        const obj = std.mem.replaceOwned(u8, b.allocator, src[0 .. src.len - 2], "/", "-") catch @panic("oom");
        const cc = b.addSystemCommand(&.{ tc.clang, "-c" });
        cc.addArgs(&cflags);
        cc.addArgs(extra);
        cc.addPrefixedDirectoryArg("-I", b.path("src"));
        cc.addArg(b.fmt("-isystem{s}", .{tc.pg_include}));
        cc.addFileArg(b.path(src));
        // Headers are inputs too: the depfile makes a header change rebuild the object.
        cc.addArgs(&.{ "-MD", "-MF" });
        _ = cc.addDepFileOutputArg(b.fmt("{s}.d", .{obj}));
        cc.addArg("-o");
        ar.addFileArg(cc.addOutputFileArg(b.fmt("{s}.o", .{obj})));
    }
    return archive;
}

/// Compiles and links one program from main_src with the system clang against archive and
/// the system libraries; returns the executable.
fn clangProgram(b: *std.Build, tc: Toolchain, main_src: []const u8, name: []const u8, extra: []const []const u8, archive: std.Build.LazyPath) std.Build.LazyPath {
    const ld = b.addSystemCommand(&.{tc.clang});
    ld.addArgs(&cflags);
    ld.addArgs(extra);
    for ([_][]const u8{ "src", "tests/unit", "bench/keel-bench" }) |d| ld.addPrefixedDirectoryArg("-I", b.path(d));
    ld.addArg(b.fmt("-isystem{s}", .{tc.pg_include}));
    ld.addFileArg(b.path(main_src));
    ld.addArgs(&.{ "-MD", "-MF" });
    _ = ld.addDepFileOutputArg(b.fmt("{s}.d", .{name}));
    ld.addFileArg(archive);
    for (syslibs) |l| ld.addArg(b.fmt("-l{s}", .{l}));
    ld.addArg("-o");
    return ld.addOutputFileArg(name);
}

pub fn build(b: *std.Build) void {
    const target = b.standardTargetOptions(.{});
    const optimize = b.option(std.builtin.OptimizeMode, "optimize", "default ReleaseFast") orelse .ReleaseFast;
    const tc = Toolchain{
        .clang = b.option([]const u8, "clang", "clang with ASan/UBSan and libFuzzer runtimes (default clang-14)") orelse "clang-14",
        .llvm_ar = b.option([]const u8, "llvm-ar", "archiver for the clang objects (default llvm-ar-14)") orelse "llvm-ar-14",
        .pg_include = b.option([]const u8, "pg-include", "folder holding libpq-fe.h (default /usr/include/postgresql)") orelse "/usr/include/postgresql",
    };

    // Every src/{core,proto,app} source but src/app/main.c: the objects of libkeel.
    var libkeel_srcs = std.ArrayList([]const u8).init(b.allocator);
    for ([_][]const u8{ "src/core", "src/proto", "src/app" }) |dir| {
        for (listC(b, dir, false, null)) |f| {
            if (!std.mem.eql(u8, f, "src/app/main.c")) libkeel_srcs.append(f) catch @panic("oom");
        }
    }
    const keel_bench_srcs = listC(b, "bench/keel-bench", false, null);
    const unit_srcs = listC(b, "tests/unit", true, "test_");
    const micro_srcs = listC(b, "bench/micro", false, null);
    const fuzz_drivers = listC(b, "fuzz", false, null);

    const lib = b.addStaticLibrary(.{ .name = "keel", .target = target, .optimize = optimize });
    lib.addCSourceFiles(.{ .files = libkeel_srcs.items, .flags = &cflags });
    lib.addIncludePath(b.path("src"));
    // Headers only: linking system libraries into a static lib would bundle the .so files.
    lib.addSystemIncludePath(.{ .cwd_relative = tc.pg_include });
    lib.linkLibC();

    const exe = b.addExecutable(.{ .name = "keel", .target = target, .optimize = optimize });
    exe.addCSourceFile(.{ .file = b.path("src/app/main.c"), .flags = &cflags });
    exe.addIncludePath(b.path("src"));
    exe.linkLibrary(lib);
    linkAll(exe);
    b.installArtifact(exe);

    const has_bench_main = for (keel_bench_srcs) |f| {
        if (std.mem.endsWith(u8, f, "/main.c")) break true;
    } else false;
    if (has_bench_main) {
        const kb = b.addExecutable(.{ .name = "keel-bench", .target = target, .optimize = optimize });
        kb.addCSourceFiles(.{ .files = keel_bench_srcs, .flags = &cflags });
        kb.addIncludePath(b.path("src"));
        kb.addIncludePath(b.path("bench/keel-bench"));
        kb.linkLibrary(lib);
        linkAll(kb);
        b.installArtifact(kb);
    }

    const unit_step = b.step("unit", "build unit tests into zig-out/tests");
    for (unit_srcs) |src| {
        const t = b.addExecutable(.{ .name = stem(src), .target = target, .optimize = .Debug });
        t.addCSourceFile(.{ .file = b.path(src), .flags = &cflags });
        t.addIncludePath(b.path("src"));
        t.addIncludePath(b.path("tests/unit"));
        t.addIncludePath(b.path("bench/keel-bench"));
        // Unit tests may #include a .c under test to reach its statics; link the rest normally.
        t.linkLibrary(lib);
        linkAll(t);
        const inst = b.addInstallArtifact(t, .{ .dest_dir = .{ .override = .{ .custom = "tests" } } });
        unit_step.dependOn(&inst.step);
        b.getInstallStep().dependOn(&inst.step);
    }

    const micro_step = b.step("micro", "build microbenchmarks into zig-out/bench");
    const bench_step = b.step("bench", "build and run every microbenchmark");
    for (micro_srcs) |src| {
        const m = b.addExecutable(.{ .name = stem(src), .target = target, .optimize = .ReleaseFast });
        m.addCSourceFile(.{ .file = b.path(src), .flags = &cflags });
        m.addIncludePath(b.path("src"));
        m.addIncludePath(b.path("bench/keel-bench"));
        m.addIncludePath(b.path("bench/micro"));
        m.linkLibrary(lib);
        linkAll(m);
        const inst = b.addInstallArtifact(m, .{ .dest_dir = .{ .override = .{ .custom = "bench" } } });
        micro_step.dependOn(&inst.step);
        b.getInstallStep().dependOn(&inst.step);
        const r = b.addRunArtifact(m);
        r.step.dependOn(&inst.step);
        bench_step.dependOn(&r.step);
    }

    // ASan+UBSan build with the system clang: every libkeel object once, then keel and each unit test.
    const asan_step = b.step("asan", "ASan+UBSan build of keel and the unit tests (zig-out/asan)");
    const san = [_][]const u8{ "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined", "-fno-omit-frame-pointer", "-g", "-O1" };
    const asan_lib = clangArchive(b, tc, libkeel_srcs.items, &san, "keel-asan");
    var asan_mains = std.ArrayList([]const u8).init(b.allocator);
    asan_mains.append("src/app/main.c") catch @panic("oom");
    asan_mains.appendSlice(unit_srcs) catch @panic("oom");
    for (asan_mains.items) |src| {
        const name = if (std.mem.eql(u8, src, "src/app/main.c")) "keel" else stem(src);
        const out = clangProgram(b, tc, src, name, &san, asan_lib);
        asan_step.dependOn(&b.addInstallFileWithDir(out, .{ .custom = "asan" }, name).step);
    }

    // libFuzzer drivers: libkeel instrumented for coverage (fuzzer-no-link) and archived, so a
    // driver links only what it reaches (src/app included) and may #include a .c for its statics.
    const fuzz_step = b.step("fuzz", "build libFuzzer drivers into zig-out/fuzz");
    const fuzz_lib = clangArchive(b, tc, libkeel_srcs.items, &(san ++ [_][]const u8{"-fsanitize=fuzzer-no-link"}), "keel-fuzz");
    for (fuzz_drivers) |src| {
        const out = clangProgram(b, tc, src, stem(src), &(san ++ [_][]const u8{"-fsanitize=fuzzer"}), fuzz_lib);
        fuzz_step.dependOn(&b.addInstallFileWithDir(out, .{ .custom = "fuzz" }, stem(src)).step);
    }

    const run_cmd = b.addRunArtifact(exe);
    if (b.args) |args| run_cmd.addArgs(args);
    b.step("run", "run keel").dependOn(&run_cmd.step);

    const test_cmd = b.addSystemCommand(&.{ "python3", "tests/run.py" });
    test_cmd.step.dependOn(b.getInstallStep());
    test_cmd.step.dependOn(asan_step);
    test_cmd.step.dependOn(fuzz_step);
    b.step("test", "build everything and run the whole test suite").dependOn(&test_cmd.step);
}
