# Installs the built gengap into a scratch prefix and builds + runs a consumer.
file(REMOVE_RECURSE "${WORK_DIR}")
execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${WORK_DIR}/prefix"
                RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "install failed (${rc})")
endif()
# No installed header includes xsimd (kernels/simd/ stays inside the library).
file(GLOB_RECURSE installed_headers "${WORK_DIR}/prefix/include/gengap/*.hpp")
foreach(header ${installed_headers})
  file(STRINGS "${header}" xsimd_includes REGEX "#include [<\"]xsimd")
  if(xsimd_includes)
    message(FATAL_ERROR "installed header includes xsimd: ${header}")
  endif()
endforeach()
if(EXISTS "${WORK_DIR}/prefix/include/gengap/kernels/simd")
  message(FATAL_ERROR "kernels/simd/ was installed")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" -S "${CONSUMER_DIR}" -B "${WORK_DIR}/build"
                        -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DCMAKE_BUILD_TYPE=Release
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "consumer configure failed (${rc})")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" --build "${WORK_DIR}/build" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "consumer build failed (${rc})")
endif()
execute_process(COMMAND "${WORK_DIR}/build/consumer" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "consumer run failed (${rc})")
endif()
# The Python package, when built: installed under the prefix, it imports and computes.
if(PYTHON)
  execute_process(COMMAND "${CMAKE_COMMAND}" -E env "PYTHONPATH=${WORK_DIR}/prefix/${PYTHON_SITE}"
                          "${PYTHON}" -c "import gengap; g = gengap.GaussianMixture.two_modes(3.0); assert abs(g.score([[0.0]])[0, 0]) < 1e-12; print('python', gengap.__version__, gengap.__file__)"
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "the installed Python package failed (${rc})")
  endif()
endif()
