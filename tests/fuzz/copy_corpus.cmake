# cmake -DSOURCE=<seed dir> -DDESTINATION=<scratch dir> -P copy_corpus.cmake
# Replaces DESTINATION with a fresh copy of SOURCE: every ctest run starts from the seeds, and
# what libFuzzer adds to its corpus stays in the build directory.
if(NOT SOURCE OR NOT DESTINATION)
  message(FATAL_ERROR "usage: cmake -DSOURCE=<dir> -DDESTINATION=<dir> -P copy_corpus.cmake")
endif()
if(NOT IS_DIRECTORY "${SOURCE}")
  message(FATAL_ERROR "no seed corpus at ${SOURCE}")
endif()
file(REMOVE_RECURSE "${DESTINATION}")
file(MAKE_DIRECTORY "${DESTINATION}")
file(GLOB seeds "${SOURCE}/*")
file(COPY ${seeds} DESTINATION "${DESTINATION}")
