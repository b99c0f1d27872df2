#pragma once
// Output files that are never half-written: each file is written to a
// temporary in the same folder, flushed to disk (fsync) and renamed over its
// final name, so a reader (or a crash) sees either the old file or the new
// one, never a mix. Folders are created on demand with a one-line error that
// names the offending field and the system's reason.
#include <filesystem>
#include <functional>
#include <string_view>

namespace gengap {

// Creates `dir` (and its parents) if missing and checks that files can be
// created in it. Throws InvalidArgument(field, "cannot create '<dir>': <strerror>")
// (or "... is not writable") when it cannot.
void ensure_directory(const std::filesystem::path& dir, std::string_view field = "out");

// Replaces `path` by `content` atomically (temporary "<name>.tmp.XXXXXX" in the
// same folder, write, fsync, rename, fsync of the folder). On any failure the
// temporary is removed, `path` is left as it was, and std::runtime_error
// "cannot write '<path>': <strerror>" is thrown.
void write_file_atomically(const std::filesystem::path& path, std::string_view content);

// The same mechanism for content another writer produces (e.g. a program
// rendering an image): `produce(temporary)` fills the temporary (created
// empty, mode 0666 & ~umask, in path's folder) by name; then it is fsynced and
// renamed over `path`. If `produce` throws, the temporary is removed, `path`
// is left as it was and the exception propagates.
void replace_file_atomically(const std::filesystem::path& path,
                             const std::function<void(const std::filesystem::path& temporary)>& produce);

}  // namespace gengap
